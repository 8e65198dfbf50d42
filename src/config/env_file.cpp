#include "sessiond/config/env_file.hpp"

#include "sessiond/core/secret.hpp"

#include <algorithm>
#include <cctype>

namespace sessiond {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_key_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool is_key_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

class env_parser {
public:
    explicit env_parser(std::string_view text) : text_(text) {}

    expected<env_entries> run() {
        env_entries out;
        // Every entry has an '=' and a line of its own: reserving that many means no reallocation ever
        // moves (and leaves behind) a short value.
        const auto count = [&](char c) { return static_cast<std::size_t>(std::count(text_.begin(), text_.end(), c)); };
        out.items.reserve(std::min(count('='), count('\n') + 1));
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 byte order mark
        while (pos_ < text_.size()) {
            skip_blanks();
            if (at_end_of_line()) {
                next_line();
                continue;
            }
            if (peek() == '#') {
                skip_to_end_of_line();
                next_line();
                continue;
            }
            env_entry entry;
            entry.line = line_;
            auto parsed = parse_entry(entry);
            if (parsed) out.items.push_back(std::move(entry));
            // A value read before a later error, or left in the small-string buffer by the move.
            wipe(entry.value);
            if (!parsed) return parsed.error();
        }
        return out;
    }

private:
    char peek() const { return text_[pos_]; }
    bool at_end_of_line() const { return pos_ >= text_.size() || peek() == '\n' || peek() == '\r'; }
    void skip_blanks() { while (pos_ < text_.size() && is_blank(peek())) ++pos_; }
    void skip_to_end_of_line() { while (!at_end_of_line()) ++pos_; }
    void next_line() {
        if (pos_ < text_.size() && peek() == '\r') ++pos_;
        if (pos_ < text_.size() && peek() == '\n') ++pos_;
        ++line_;
    }
    error fail(std::string what) const { return make_error("line " + std::to_string(line_) + ": " + what); }

    expected<void> parse_entry(env_entry& entry) {
        std::string_view key = read_key();
        if (key == "export" && pos_ < text_.size() && is_blank(peek())) {
            skip_blanks();
            key = read_key();
        }
        if (key.empty()) return fail("expected NAME=value (a name starts with a letter or '_')");
        entry.name = std::string(key);
        skip_blanks();
        // Not naming what was read: on the second line of an unquoted multi-line PEM it is key material.
        if (pos_ >= text_.size() || peek() != '=')
            return fail("expected '=' after the variable name (a value spanning several lines must be in double "
                        "quotes)");
        ++pos_;
        skip_blanks();
        if (pos_ < text_.size() && peek() == '"') return read_double_quoted(entry);
        if (pos_ < text_.size() && peek() == '\'') return read_single_quoted(entry);
        return read_unquoted(entry);
    }

    std::string_view read_key() {
        const std::size_t start = pos_;
        if (pos_ < text_.size() && is_key_start(peek())) {
            while (pos_ < text_.size() && is_key_char(peek())) ++pos_;
        }
        return text_.substr(start, pos_ - start);
    }

    expected<void> read_unquoted(env_entry& entry) {
        const std::size_t start = pos_;
        skip_to_end_of_line();
        std::string_view value = text_.substr(start, pos_ - start);
        // A comment starts at '#' preceded by a blank; "a#b" stays a value. The blanks after '=' are
        // already skipped, so "KEY= # note" has its '#' first and is an empty value.
        for (std::size_t i = 0; i < value.size(); ++i) {
            const bool after_blank = i == 0 ? start > 0 && is_blank(text_[start - 1]) : is_blank(value[i - 1]);
            if (value[i] == '#' && after_blank) {
                value = value.substr(0, i);
                break;
            }
        }
        while (!value.empty() && is_blank(value.back())) value.remove_suffix(1);
        entry.value = std::string(value);
        next_line();
        return {};
    }

    expected<void> read_single_quoted(env_entry& entry) {
        ++pos_;
        const std::size_t start = pos_;
        while (pos_ < text_.size() && peek() != '\'') {
            if (peek() == '\n') ++line_;
            ++pos_;
        }
        if (pos_ >= text_.size())
            return make_error("line " + std::to_string(entry.line) + ": " + entry.name + ": unterminated single quote");
        // The line breaks of a file edited on Windows are the file's, not the value's.
        const std::string_view raw = text_.substr(start, pos_ - start);
        entry.value.reserve(raw.size());
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') continue;
            entry.value += raw[i];
        }
        ++pos_;
        return finish_quoted(entry);
    }

    expected<void> read_double_quoted(env_entry& entry) {
        ++pos_;
        std::string value;
        // Sized once: growing the string would leave copies of a key behind in freed memory. The
        // distance to the closing quote bounds the value (escapes only shorten it).
        std::size_t end = pos_;
        while (end < text_.size() && text_[end] != '"') end += text_[end] == '\\' ? 2 : 1;
        value.reserve(std::min(end, text_.size()) - pos_);
        for (;;) {
            if (pos_ >= text_.size()) {
                wipe(value);
                return make_error("line " + std::to_string(entry.line) + ": " + entry.name +
                                  ": unterminated double quote");
            }
            const char c = peek();
            ++pos_;
            if (c == '"') break;
            if (c == '\r' && pos_ < text_.size() && peek() == '\n') continue;  // CRLF file: keep only '\n'
            if (c == '\n') ++line_;
            if (c != '\\' || pos_ >= text_.size()) {
                value += c;
                continue;
            }
            char e = peek();
            ++pos_;
            if (e == '\r' && pos_ < text_.size() && peek() == '\n') {
                e = '\n';
                ++pos_;
            }
            switch (e) {
                case 'n': value += '\n'; break;
                case 'r': value += '\r'; break;
                case 't': value += '\t'; break;
                case '"': value += '"'; break;
                case '\\': value += '\\'; break;
                case '$': value += '$'; break;
                case '\n': ++line_; break;  // line continuation
                default:
                    value += '\\';
                    value += e;
            }
        }
        entry.value = std::move(value);
        return finish_quoted(entry);
    }

    // After a closing quote only blanks and a comment may follow.
    expected<void> finish_quoted(const env_entry& entry) {
        skip_blanks();
        if (!at_end_of_line() && peek() != '#')
            return fail(entry.name + ": unexpected text after the closing quote");
        skip_to_end_of_line();
        next_line();
        return {};
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    int line_ = 1;
};

}  // namespace

env_entries::~env_entries() {
    for (auto& e : items) wipe(e.value);
}

expected<env_entries> parse_env_file(std::string_view text) { return env_parser(text).run(); }

}  // namespace sessiond
