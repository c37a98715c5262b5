#include "cli/status_format.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tnet::cli {
namespace {

nlohmann::json fixture() {
  const char* src = std::getenv("TNET_SOURCE_DIR");
  std::string dir = src ? std::string(src) + "/cli/testdata" : std::string(TNET_CLI_TESTDATA);
  std::ifstream in(dir + "/status_running.json");
  EXPECT_TRUE(in) << "fixture missing in " << dir;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::chrono::system_clock::time_point now() {
  return *parseGoTime("2026-11-26T12:00:00Z");
}

// Go's tabwriter output for the fixture, by hand: every cell padded to its column width + 2,
// trailing spaces included; peers ordered by DNS name (empty first), sharee nodes hidden.
const char* RUNNING_TABLE =
    "100.64.0.1  self-host      op@     linux    -                                                 \n"
    "100.64.0.3  (\"bravo-box\")  3       windows  offline, last seen 2h ago                         \n"
    "100.64.0.2  alpha          alice@  linux    active; direct 192.0.2.10:41641, tx 1000 rx 2000  \n"
    "100.64.0.4  charlie        alice@  linux    idle; offers exit node                            \n"
    "100.64.0.5  delta          op@     macOS    active; relay \"fra\"                               \n";

TEST(StatusFormat, RunningTableLikeGo) {
  StatusText t = formatStatus(fixture(), StatusView{}, now());
  EXPECT_EQ(t.exitCode, 0);
  EXPECT_EQ(t.out, std::string(RUNNING_TABLE) + "\n# Health check:\n#     - some warning\n");
}

TEST(StatusFormat, PeersFalseShowsOnlySelf) {
  StatusView v;
  v.peers = false;
  auto st = fixture();
  st["Health"] = nlohmann::json::array();
  StatusText t = formatStatus(st, v, now());
  EXPECT_EQ(t.out, "100.64.0.1  self-host  op@  linux  -  \n");
}

TEST(StatusFormat, ActiveAndHeader) {
  StatusView v;
  v.active = true;
  v.header = true;
  v.self = false;
  auto st = fixture();
  st.erase("Health");
  StatusText t = formatStatus(st, v, now());
  EXPECT_EQ(t.out,
            "IP          Hostname  Owner   OS     Status                                            \n"
            "--          --------  -----   --     ------                                            \n"
            "100.64.0.2  alpha     alice@  linux  active; direct 192.0.2.10:41641, tx 1000 rx 2000  \n"
            "100.64.0.5  delta     op@     macOS  active; relay \"fra\"                               \n");
}

TEST(StatusFormat, NotRunningMessagesAreGos) {
  nlohmann::json st = {{"BackendState", "NeedsLogin"}, {"AuthURL", ""}};
  StatusText t = formatStatus(st, StatusView{}, now());
  EXPECT_EQ(t.out, "Logged out.\n");
  EXPECT_EQ(t.exitCode, 1);

  st["AuthURL"] = "https://login.example.com/a/abc";
  EXPECT_EQ(formatStatus(st, StatusView{}, now()).out,
            "Logged out.\nLog in at: https://login.example.com/a/abc\n");

  st = {{"BackendState", "Stopped"}};
  EXPECT_EQ(formatStatus(st, StatusView{}, now()).out, "Tailscale is stopped.\n");
  st = {{"BackendState", "NeedsMachineAuth"}};
  EXPECT_EQ(formatStatus(st, StatusView{}, now()).out, "Machine is not yet approved by tailnet admin.\n");
  st = {{"BackendState", "NoState"}, {"Health", {"ipnd is starting"}}};
  EXPECT_EQ(formatStatus(st, StatusView{}, now()).out,
            "# Health check:\n#     - ipnd is starting\n\nunexpected state: NoState\n");
  st = {{"BackendState", "Starting"}};
  EXPECT_EQ(formatStatus(st, StatusView{}, now()).exitCode, 0);
}

TEST(StatusFormat, ToleratesMissingFields) {
  nlohmann::json st = {{"BackendState", "Running"}, {"Self", {{"HostName", "x y"}}}, {"Peer", nullptr}};
  StatusText t = formatStatus(st, StatusView{}, now());
  EXPECT_EQ(t.out, "  (\"x-y\")  -    offline  \n");
}

TEST(StatusFormat, LastSeenUnits) {
  auto st = fixture();
  st.erase("Health");
  auto& bravo = st["Peer"]["nodekey:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"];
  bravo["LastSeen"] = "2026-11-23T11:00:00+01:00";
  StatusText t = formatStatus(st, StatusView{}, now());
  EXPECT_NE(t.out.find("offline, last seen 3d ago"), std::string::npos) << t.out;
  bravo["LastSeen"] = "2026-11-26T11:59:50.123456789Z";
  t = formatStatus(st, StatusView{}, now());
  EXPECT_NE(t.out.find("offline, last seen 1m ago"), std::string::npos) << t.out;
}

}  // namespace
}  // namespace tnet::cli
