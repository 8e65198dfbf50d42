#include "sessiond/ibkr/verdicts.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sessiond {
namespace {

sso_validation validation(std::optional<ibkr_environment> login_type) {
    sso_validation v;
    v.result = true;
    v.login_type = login_type;
    return v;
}

account_list accounts(std::vector<std::string> ids) {
    account_list l;
    l.accounts = std::move(ids);
    return l;
}

TEST(ibkr_verdicts, login_of_the_configured_environment_is_accepted) {
    EXPECT_FALSE(environment_mismatch(validation(ibkr_environment::paper), ibkr_environment::paper));
    EXPECT_FALSE(environment_mismatch(validation(ibkr_environment::live), ibkr_environment::live));
}

TEST(ibkr_verdicts, live_login_with_paper_configured_is_refused) {
    const auto why = environment_mismatch(validation(ibkr_environment::live), ibkr_environment::paper);
    ASSERT_TRUE(why);
    EXPECT_EQ(*why,
              "IBKR reports a live login but IBKR_ENV=paper: refusing to run a session for the wrong environment; "
              "fix IBKR_ENV or IBKR_CREDENTIAL, then reload");
}

TEST(ibkr_verdicts, paper_login_with_live_configured_is_refused) {
    const auto why = environment_mismatch(validation(ibkr_environment::paper), ibkr_environment::live);
    ASSERT_TRUE(why);
    EXPECT_TRUE(why->starts_with("IBKR reports a paper login but IBKR_ENV=live")) << *why;
}

TEST(ibkr_verdicts, login_without_login_type_is_accepted) {
    EXPECT_FALSE(environment_mismatch(validation(std::nullopt), ibkr_environment::live));
    EXPECT_FALSE(environment_mismatch(validation(std::nullopt), ibkr_environment::paper));
}

account_list accounts_of(std::optional<ibkr_environment> is_paper) {
    account_list l;
    l.accounts = {"DU1234567"};
    l.login_type = is_paper;
    return l;
}

TEST(ibkr_verdicts, is_paper_of_the_configured_environment_is_accepted) {
    EXPECT_FALSE(environment_mismatch(accounts_of(ibkr_environment::paper), ibkr_environment::paper));
    EXPECT_FALSE(environment_mismatch(accounts_of(ibkr_environment::live), ibkr_environment::live));
}

TEST(ibkr_verdicts, is_paper_of_the_other_environment_is_refused_naming_where_ibkr_said_it) {
    const auto live = environment_mismatch(accounts_of(ibkr_environment::live), ibkr_environment::paper);
    ASSERT_TRUE(live);
    EXPECT_EQ(*live,
              "IBKR reports a live login but IBKR_ENV=paper (/iserver/accounts isPaper=false): refusing to run a "
              "session for the wrong environment; fix IBKR_ENV or IBKR_CREDENTIAL, then reload");
    const auto paper = environment_mismatch(accounts_of(ibkr_environment::paper), ibkr_environment::live);
    ASSERT_TRUE(paper);
    EXPECT_TRUE(paper->starts_with("IBKR reports a paper login but IBKR_ENV=live (/iserver/accounts isPaper=true)"))
        << *paper;
}

TEST(ibkr_verdicts, accounts_without_is_paper_contradict_nothing) {
    EXPECT_FALSE(environment_mismatch(accounts_of(std::nullopt), ibkr_environment::paper));
    EXPECT_FALSE(environment_mismatch(accounts_of(std::nullopt), ibkr_environment::live));
}

TEST(ibkr_verdicts, no_configured_environment_accepts_any_login) {
    EXPECT_FALSE(environment_mismatch(validation(ibkr_environment::live), std::nullopt));
    EXPECT_FALSE(environment_mismatch(validation(ibkr_environment::paper), std::nullopt));
}

TEST(ibkr_verdicts, listed_account_is_accepted) {
    EXPECT_FALSE(account_missing(accounts({"U1234567"}), "U1234567"));
    EXPECT_FALSE(account_missing(accounts({"U7654321", "U1234567"}), "U1234567"));
}

TEST(ibkr_verdicts, empty_account_list_is_not_a_verdict) {
    EXPECT_FALSE(account_missing(accounts({}), "U1234567"));
}

TEST(ibkr_verdicts, unlisted_account_is_refused_naming_what_is_listed) {
    const auto why = account_missing(accounts({"U7654321", "DU1111111"}), "U1234567");
    ASSERT_TRUE(why);
    EXPECT_EQ(*why,
              "IBKR_ACCOUNT_ID U1234567 is not among the accounts of this login (U7654321, DU1111111): refusing to keep "
              "a session for another account");
}

TEST(ibkr_verdicts, account_match_is_exact) {
    EXPECT_TRUE(account_missing(accounts({"U12345678"}), "U1234567"));
    EXPECT_TRUE(account_missing(accounts({"u1234567"}), "U1234567"));
    EXPECT_TRUE(account_missing(accounts({"U1234567 "}), "U1234567"));
}

TEST(ibkr_verdicts, long_account_list_is_cut_in_the_message) {
    std::vector<std::string> ids;
    for (int i = 0; i < 1000; ++i) ids.push_back("U" + std::to_string(1000000 + i));
    const auto why = account_missing(accounts(ids), "U9999999");
    ASSERT_TRUE(why);
    EXPECT_LT(why->size(), 400u);
    EXPECT_NE(why->find(", ..."), std::string::npos);
    EXPECT_NE(why->find("U1000000"), std::string::npos);
}

}  // namespace
}  // namespace sessiond
