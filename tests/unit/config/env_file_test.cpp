#include "sessiond/config/env_file.hpp"

#include "sessiond/crypto/rsa_key.hpp"
#include "support/test_keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace sessiond {
namespace {

using pairs = std::vector<std::pair<std::string, std::string>>;

pairs parse_ok(std::string_view text) {
    auto parsed = parse_env_file(text);
    if (!parsed) {
        ADD_FAILURE() << "unexpected error: " << parsed.error().message;
        return {};
    }
    pairs out;
    for (const env_entry& e : parsed->items) out.emplace_back(e.name, e.value);
    return out;
}

std::vector<int> lines_of(std::string_view text) {
    std::vector<int> out;
    auto parsed = parse_env_file(text);
    if (parsed)
        for (const env_entry& e : parsed->items) out.push_back(e.line);
    return out;
}

std::string error_of(std::string_view text) {
    auto parsed = parse_env_file(text);
    if (parsed) {
        ADD_FAILURE() << "expected an error for: " << text;
        return {};
    }
    return parsed.error().message;
}

// The PEM as the integration guide writes it: one line, "\n" as two characters.
std::string escaped_pem(std::string_view pem) {
    std::string out;
    for (const char c : pem) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    while (out.ends_with("\\n")) out.resize(out.size() - 2);
    return out;
}

TEST(env_file, ignores_comments_and_blank_lines) {
    EXPECT_EQ(parse_ok("# a comment\n\n   \n\t# indented comment\nA=1\n\n# B=2\n"), (pairs{{"A", "1"}}));
}

TEST(env_file, accepts_an_empty_file) { EXPECT_EQ(parse_ok(""), pairs{}); }

TEST(env_file, accepts_export_prefix_as_in_shell_files) {
    EXPECT_EQ(parse_ok("export A=1\nexport\tB='2'\nexport   C=\"3\"\n"), (pairs{{"A", "1"}, {"B", "2"}, {"C", "3"}}));
}

TEST(env_file, a_variable_may_be_named_export) {
    EXPECT_EQ(parse_ok("export=1\n"), (pairs{{"export", "1"}}));
}

TEST(env_file, trims_blanks_around_name_and_unquoted_value) {
    EXPECT_EQ(parse_ok("  A = value with inner spaces  \t\n"), (pairs{{"A", "value with inner spaces"}}));
}

TEST(env_file, strips_a_trailing_comment_from_an_unquoted_value) {
    EXPECT_EQ(parse_ok("IBKR_ENV=paper # Trading environment: 'paper' or 'live'\nB=x\t# tab comment\n"),
              (pairs{{"IBKR_ENV", "paper"}, {"B", "x"}}));
}

TEST(env_file, keeps_a_hash_that_is_not_preceded_by_a_blank) {
    EXPECT_EQ(parse_ok("A=a#b\nB=#start\nC=x#y # comment\n"), (pairs{{"A", "a#b"}, {"B", "#start"}, {"C", "x#y"}}));
}

TEST(env_file, an_unquoted_value_that_is_only_a_comment_is_empty) {
    EXPECT_EQ(parse_ok("IBKR_SCOPE=   # use the default\nB= #\n"), (pairs{{"IBKR_SCOPE", ""}, {"B", ""}}));
}

TEST(env_file, accepts_empty_values) {
    EXPECT_EQ(parse_ok("A=\nB=''\nC=\"\"\n"), (pairs{{"A", ""}, {"B", ""}, {"C", ""}}));
}

TEST(env_file, single_quotes_are_taken_literally) {
    EXPECT_EQ(parse_ok(R"(A='literal $HOME \n "double" # not a comment')" "\n"),
              (pairs{{"A", R"(literal $HOME \n "double" # not a comment)"}}));
}

TEST(env_file, double_quotes_apply_every_escape) {
    EXPECT_EQ(parse_ok(R"(A="n:\n r:\r t:\t q:\" b:\\ d:\$ other:\q")" "\n"),
              (pairs{{"A", "n:\n r:\r t:\t q:\" b:\\ d:$ other:\\q"}}));
}

TEST(env_file, backslash_at_end_of_line_in_double_quotes_continues_the_line) {
    EXPECT_EQ(parse_ok("A=\"one \\\ntwo\"\nB=3\n"), (pairs{{"A", "one two"}, {"B", "3"}}));
    EXPECT_EQ(lines_of("A=\"one \\\ntwo\"\nB=3\n"), (std::vector<int>{1, 3}));
}

TEST(env_file, comment_may_follow_a_closing_quote) {
    EXPECT_EQ(parse_ok("A=\"x\" # note\nB='y'   #note\nC=\"z\"#tight\n"), (pairs{{"A", "x"}, {"B", "y"}, {"C", "z"}}));
}

TEST(env_file, double_quoted_pem_with_escaped_newlines_becomes_real_line_breaks) {
    const std::string& pem = testing::shared_rsa_key().pkcs8_pem;
    const std::string line = "IBKR_PRIVATE_KEY=\"" + escaped_pem(pem) + "\"\n";
    ASSERT_EQ(line.find('\n'), line.size() - 1);  // really one line, as in the guide

    auto parsed = parse_env_file(line);
    ASSERT_TRUE(parsed) << parsed.error().message;
    ASSERT_EQ(parsed->items.size(), 1u);
    EXPECT_EQ(parsed->items[0].value + "\n", pem);
    EXPECT_TRUE(rsa_private_key::from_pem(parsed->items[0].value));
}

TEST(env_file, double_quoted_value_may_span_several_lines) {
    const std::string& pem = testing::shared_rsa_key().pkcs1_pem;
    const std::string text = "A=1\nIBKR_PRIVATE_KEY=\"" + pem + "\"\nB=2\n";
    auto parsed = parse_env_file(text);
    ASSERT_TRUE(parsed) << parsed.error().message;
    ASSERT_EQ(parsed->items.size(), 3u);
    EXPECT_EQ(parsed->items[1].value, pem);
    EXPECT_EQ(parsed->items[1].line, 2);
    const auto pem_lines = static_cast<int>(std::count(pem.begin(), pem.end(), '\n'));
    EXPECT_EQ(parsed->items[2].line, 3 + pem_lines);
}

TEST(env_file, reads_crlf_files_without_keeping_carriage_returns) {
    const std::string text = "A=1\r\n# comment\r\nB='two'\r\nC=\"x\r\ny\"\r\nD='p\r\nq'\r\nE=\"cont\\\r\nmore\"\r\nF=6 # c\r\n";
    EXPECT_EQ(parse_ok(text), (pairs{{"A", "1"}, {"B", "two"}, {"C", "x\ny"}, {"D", "p\nq"}, {"E", "contmore"},
                                     {"F", "6"}}));
    EXPECT_EQ(lines_of(text), (std::vector<int>{1, 3, 4, 6, 8, 10}));
}

TEST(env_file, skips_a_utf8_byte_order_mark) {
    EXPECT_EQ(parse_ok("\xEF\xBB\xBFIBKR_ENV=paper\n"), (pairs{{"IBKR_ENV", "paper"}}));
}

TEST(env_file, accepts_a_last_line_without_line_break) {
    EXPECT_EQ(parse_ok("A=1\nB=2"), (pairs{{"A", "1"}, {"B", "2"}}));
}

TEST(env_file, keeps_every_occurrence_of_a_repeated_name_in_order) {
    // Which one wins is the loader's decision; the parser reports both with their lines.
    EXPECT_EQ(parse_ok("A=1\nA=2\n"), (pairs{{"A", "1"}, {"A", "2"}}));
    EXPECT_EQ(lines_of("A=1\nA=2\n"), (std::vector<int>{1, 2}));
}

constexpr std::string_view missing_equals =
    ": expected '=' after the variable name (a value spanning several lines must be in double quotes)";

TEST(env_file, reports_a_missing_equals_sign_with_its_line) {
    EXPECT_EQ(error_of("A=1\nIBKR_ENV paper\n"), "line 2" + std::string(missing_equals));
    EXPECT_EQ(error_of("\n\nLONELY"), "line 3" + std::string(missing_equals));
}

TEST(env_file, an_unquoted_multi_line_pem_fails_on_its_second_line_without_quoting_it) {
    const std::string& pem = testing::shared_rsa_key().pkcs8_pem;
    const std::string message = error_of("IBKR_ENV=paper\nIBKR_PRIVATE_KEY=" + pem);
    // Base64 of a PKCS#8 key starts with "MII": the parser reads a name and finds no '='.
    EXPECT_EQ(message, "line 3" + std::string(missing_equals));
}

TEST(env_file, reports_a_bad_name_with_its_line) {
    EXPECT_EQ(error_of("1ABC=x\n"), "line 1: expected NAME=value (a name starts with a letter or '_')");
    EXPECT_EQ(error_of("A=1\n=value\n"), "line 2: expected NAME=value (a name starts with a letter or '_')");
    EXPECT_EQ(error_of("A=1\n\nIBKR-ENV=paper\n"), "line 3" + std::string(missing_equals));
}

TEST(env_file, reports_an_unterminated_single_quote_at_the_line_where_it_starts) {
    EXPECT_EQ(error_of("A=1\nB='abc\nC=2\n"), "line 2: B: unterminated single quote");
}

TEST(env_file, reports_an_unterminated_double_quote_at_the_line_where_it_starts) {
    EXPECT_EQ(error_of("A=1\n\nIBKR_PRIVATE_KEY=\"-----BEGIN\nabc\ndef\n"),
              "line 3: IBKR_PRIVATE_KEY: unterminated double quote");
    EXPECT_EQ(error_of("A=\"ends with backslash\\"), "line 1: A: unterminated double quote");
}

TEST(env_file, reports_text_after_a_closing_quote_with_its_line) {
    EXPECT_EQ(error_of("A=1\nB=\"x\"y\n"), "line 2: B: unexpected text after the closing quote");
    EXPECT_EQ(error_of("A='x' y\n"), "line 1: A: unexpected text after the closing quote");
    // The line is where the stray text is, after a multi-line value.
    EXPECT_EQ(error_of("A=\"x\ny\" z\n"), "line 2: A: unexpected text after the closing quote");
}

TEST(env_file, no_error_message_contains_the_value) {
    const std::string value = "hunter2-S3CRET";
    for (const std::string& text : {
             "A='" + value + "\n",                      // unterminated single quote
             "A=\"" + value + "\n",                     // unterminated double quote
             "A=\"" + value + "\"" + value + "\n",      // text after the closing quote
             "A='" + value + "' " + value + "\n",       // same, single quotes
             "A=1\n" + value + "\n",                    // missing '=' (the "name" read is the value)
             "A=" + value + "\n-" + value + "=1\n",     // bad name
         }) {
        SCOPED_TRACE(text);
        const std::string message = error_of(text);
        EXPECT_FALSE(message.empty());
        EXPECT_EQ(message.find("S3CRET"), std::string::npos) << message;
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace sessiond
