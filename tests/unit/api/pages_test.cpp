// The pure parts of the pages: ETag matching, content types, and the event stream's framing.

#include "sessiond/api/pages.hpp"
#include "sessiond/api/status_events.hpp"
#include "sessiond/web/web_assets.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

TEST(etag_matches, takes_the_tag_alone_in_a_list_weak_or_any) {
    EXPECT_TRUE(etag_matches("\"abc\"", "\"abc\""));
    EXPECT_TRUE(etag_matches("\"x\", \"abc\"", "\"abc\""));
    EXPECT_TRUE(etag_matches("W/\"abc\"", "\"abc\""));
    EXPECT_TRUE(etag_matches("*", "\"abc\""));
    EXPECT_FALSE(etag_matches("\"abcd\"", "\"abc\""));
    EXPECT_FALSE(etag_matches("abc", "\"abc\"")) << "an unquoted tag is another tag";
    EXPECT_FALSE(etag_matches("", "\"abc\""));
}

TEST(web_content_type, by_extension_and_octets_otherwise) {
    EXPECT_EQ(web_content_type("/index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(web_content_type("/app.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(web_content_type("/app.css"), "text/css; charset=utf-8");
    EXPECT_EQ(web_content_type("/favicon.svg"), "image/svg+xml");
    EXPECT_EQ(web_content_type("/notes"), "application/octet-stream");
}

TEST(embedded_web_files, hold_the_page_its_script_and_style_each_with_a_quoted_tag) {
    std::vector<std::string_view> paths;
    for (const auto& f : embedded_web_files()) {
        paths.push_back(f.path);
        EXPECT_FALSE(f.body.empty()) << f.path;
        EXPECT_TRUE(f.etag.size() > 2 && f.etag.front() == '"' && f.etag.back() == '"') << f.etag;
    }
    for (const char* needed : {"/index.html", "/app.js", "/app.css"})
        EXPECT_NE(std::find(paths.begin(), paths.end(), needed), paths.end()) << needed;
}

TEST(embedded_web_files, hold_nothing_shaped_like_a_private_key) {
    for (const auto& f : embedded_web_files()) {
        EXPECT_EQ(f.body.find("PRIVATE KEY-----"), std::string_view::npos) << f.path;
        EXPECT_EQ(f.body.find("-----BEGIN"), std::string_view::npos) << f.path;
    }
}

TEST(embedded_web_files, stay_within_the_page_weight_budget) {
    std::size_t bytes = 0;
    for (const auto& f : embedded_web_files())
        if (f.path.ends_with(".html") || f.path.ends_with(".js") || f.path.ends_with(".css")) bytes += f.body.size();
    EXPECT_LT(bytes, 60u * 1024u) << "HTML + CSS + JS, uncompressed (issue 14's budget)";
}

TEST(pages, answer_the_root_with_the_index_and_an_unchanged_file_with_304) {
    const pages p;
    server_request get{boost::beast::http::verb::get, "/", 11};
    const auto root = p.find(get, "/");
    const auto index = p.find(get, "/index.html");
    ASSERT_TRUE(root && index);
    EXPECT_EQ(root, index);
    EXPECT_EQ(root->status(), 200u);
    EXPECT_EQ(p.find(get, "/missing.js"), nullptr);
    const auto* file = &embedded_web_files().front();
    get.set(boost::beast::http::field::if_none_match, file->etag);
    const auto unchanged = p.find(get, file->path);
    ASSERT_TRUE(unchanged);
    EXPECT_EQ(unchanged->status(), 304u);
}

TEST(status_event, is_one_event_of_one_data_line) {
    EXPECT_EQ(status_event(R"({"status":"connected"})"), "event: status\ndata: {\"status\":\"connected\"}\n\n");
}

}  // namespace
}  // namespace sessiond
