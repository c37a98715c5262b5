// The systemd packaging (packaging/systemd, sysusers.d, tmpfiles.d), checked offline: the units
// keep the hardening baseline and each service's network profile, `systemd-analyze verify`
// accepts copies whose ExecStart= names the binaries of this build, `systemd-analyze security`
// scores each service at most 1.5 (wgd at most 0.8), and sysusers/tmpfiles create what the units
// expect. Needs no systemd as PID 1 and no root (ownership checks only as root).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness/harness.h"

namespace tnet::packaging {
namespace {

namespace fs = std::filesystem;
using harness::ProcessResult;
using harness::RunOptions;
using harness::TempDir;

const std::vector<std::string> SERVICES = {"wgd", "magicsockd", "netstackd", "controld", "ipnd", "apid"};
const std::string LIBEXEC = "/usr/local/libexec/tailnetd/";

// The exposure bars: Go's tailscaled.service scores 9.6, systemd-hostnamed about 1.5.
double exposureLimit(const std::string& svc) { return svc == "wgd" ? 0.8 : 1.5; }

std::string sourceDir() {
  const char* s = std::getenv("TNET_SOURCE_DIR");
  return s != nullptr && *s != 0 ? s : TNET_SOURCE_DIR_DEFAULT;
}
std::string packagingDir() { return sourceDir() + "/packaging"; }
std::string unitDir() { return packagingDir() + "/systemd"; }

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// A unit file as systemd reads it: sections of `Key=value` assignments in order (repeated keys
// kept, an empty value resetting the list is the caller's business), comments dropped,
// backslash continuations joined.
struct Assignment {
  std::string section;
  std::string key;
  std::string value;
};
using Unit = std::vector<Assignment>;

Unit parseUnit(const std::string& text) {
  Unit unit;
  std::istringstream in(text);
  std::string line;
  std::string section;
  std::string pending;
  while (std::getline(in, line)) {
    if (!pending.empty()) {
      line = pending + " " + line;
      pending.clear();
    }
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    line = line.substr(first);
    if (line[0] == '#' || line[0] == ';') continue;
    if (line.back() == '\\') {
      pending = line.substr(0, line.size() - 1);
      continue;
    }
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    std::string value = line.substr(eq + 1);
    auto v = value.find_first_not_of(" \t");
    value = v == std::string::npos ? "" : value.substr(v);
    unit.push_back({section, key, value});
  }
  return unit;
}

std::vector<std::string> values(const Unit& unit, const std::string& section, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& a : unit) {
    if (a.section == section && a.key == key) out.push_back(a.value);
  }
  return out;
}

// The last value of a single-valued setting, or "<unset>".
std::string value(const Unit& unit, const std::string& section, const std::string& key) {
  auto v = values(unit, section, key);
  return v.empty() ? "<unset>" : v.back();
}

std::set<std::string> words(const std::vector<std::string>& vs) {
  std::set<std::string> out;
  for (const auto& v : vs) {
    std::istringstream in(v);
    std::string w;
    while (in >> w) out.insert(w);
  }
  return out;
}

Unit loadUnit(const std::string& name) { return parseUnit(readFile(unitDir() + "/" + name)); }

ProcessResult run(const std::vector<std::string>& argv) {
  RunOptions opts;
  opts.env = {{"SYSTEMD_PAGER", "cat"}, {"SYSTEMD_COLORS", "0"}, {"LC_ALL", "C.UTF-8"}};
  opts.timeout = std::chrono::seconds(60);
  return harness::runProcess(argv, opts);
}

std::string tool(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/bin/", "/usr/local/bin/"}) {
    std::string p = std::string(dir) + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// Copies of every unit (and the target and socket) in `dir` with each service's ExecStart=
// pointing at the binary of this build, so `systemd-analyze verify` can check it is executable.
// Returns "" or the reason the copies cannot be made (for GTEST_SKIP).
std::string copyUnitsForBuild(const std::string& dir) {
  std::string missing = harness::missingServices();
  if (!missing.empty()) return missing;
  std::string bin = harness::serviceDir();
  for (const auto& entry : fs::directory_iterator(unitDir())) {
    std::string name = entry.path().filename().string();
    if (name.rfind("tailnetd", 0) != 0 || name.find(".example") != std::string::npos) continue;
    std::string text = readFile(entry.path().string());
    for (const auto& svc : SERVICES) {
      std::string from = LIBEXEC + svc + " ";
      for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
        std::string to = bin + "/" + svc + " ";
        text.replace(pos, from.size(), to);
        pos += to.size();
      }
    }
    writeFile(dir + "/" + name, text);
  }
  return "";
}

struct Verify {
  bool ok = false;
  std::string report;
};

Verify verify(const std::vector<std::string>& units) {
  std::vector<std::string> argv = {tool("systemd-analyze"), "verify"};
  argv.insert(argv.end(), units.begin(), units.end());
  ProcessResult r = run(argv);
  // Any diagnostic counts: verify exits 0 after "Unknown key ..., ignoring." lines.
  return {r.exitCode == 0 && r.err.empty() && r.out.empty(),
          "exit " + std::to_string(r.exitCode) + "\n" + r.out + r.err};
}

// The overall exposure of a unit file, or a negative number with the output in `why`.
double exposure(const std::string& unitPath, std::string* why) {
  ProcessResult r = run({tool("systemd-analyze"), "security", "--offline=true", "--no-pager", unitPath});
  static const std::regex OVERALL(R"(Overall exposure level for ([^:]+): ([0-9]+\.[0-9]))");
  std::smatch m;
  if (r.exitCode != 0 || !std::regex_search(r.out, m, OVERALL)) {
    *why = "exit " + std::to_string(r.exitCode) + "\n" + r.out + r.err;
    return -1;
  }
  return std::stod(m[2].str());
}

// The settings whose exposure was counted (the ✗ rows), for the printed table.
std::string exposedSettings(const std::string& unitPath) {
  ProcessResult r = run({tool("systemd-analyze"), "security", "--offline=true", "--no-pager", unitPath});
  std::istringstream in(r.out);
  std::string line;
  std::vector<std::string> names;
  while (std::getline(in, line)) {
    if (line.rfind("\xE2\x9C\x97 ", 0) != 0) continue;  // "✗ "
    std::istringstream l(line.substr(4));
    std::string name;
    l >> name;
    names.push_back(name);
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

class PackagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::is_directory(unitDir())) << unitDir();
  }
  bool haveAnalyze() const { return !tool("systemd-analyze").empty(); }
};

// --- the unit files themselves -------------------------------------------------------------

TEST_F(PackagingTest, EveryServiceUnitKeepsTheHardeningBaseline) {
  const std::map<std::string, std::string> baseline = {
      {"Type", "notify"},
      {"Group", "tailnetd"},
      {"StateDirectoryMode", "0700"},
      {"RuntimeDirectoryMode", "0750"},
      {"RuntimeDirectoryPreserve", "yes"},
      {"UMask", "0077"},
      {"LimitCORE", "0"},
      {"CapabilityBoundingSet", ""},
      {"AmbientCapabilities", ""},
      {"NoNewPrivileges", "yes"},
      {"ProtectSystem", "strict"},
      {"ProtectHome", "yes"},
      {"PrivateTmp", "yes"},
      {"PrivateDevices", "yes"},
      {"DevicePolicy", "closed"},
      {"ProtectKernelTunables", "yes"},
      {"ProtectKernelModules", "yes"},
      {"ProtectKernelLogs", "yes"},
      {"ProtectControlGroups", "yes"},
      {"ProtectClock", "yes"},
      {"ProtectHostname", "yes"},
      {"ProtectProc", "invisible"},
      {"ProcSubset", "pid"},
      {"RestrictNamespaces", "yes"},
      {"RestrictRealtime", "yes"},
      {"RestrictSUIDSGID", "yes"},
      {"LockPersonality", "yes"},
      {"MemoryDenyWriteExecute", "yes"},
      {"RemoveIPC", "yes"},
      {"KeyringMode", "private"},
      {"SystemCallArchitectures", "native"},
  };
  for (const auto& svc : SERVICES) {
    SCOPED_TRACE(svc);
    Unit u = loadUnit("tailnetd-" + svc + ".service");
    ASSERT_FALSE(u.empty());
    for (const auto& [key, want] : baseline) EXPECT_EQ(value(u, "Service", key), want) << key;
    EXPECT_EQ(value(u, "Service", "User"), "tailnetd-" + svc);
    EXPECT_EQ(value(u, "Service", "StateDirectory"), "tailnetd/" + svc);
    EXPECT_EQ(value(u, "Service", "RuntimeDirectory"), "tailnetd/" + svc);
    EXPECT_EQ(values(u, "Service", "SystemCallFilter"),
              (std::vector<std::string>{"@system-service", "~@privileged @resources"}));
    // PrivateUsers= maps every peer uid to nobody (breaks the bus's caller checks); the bus
    // identities are the static sysusers uids, so no DynamicUser= either.
    EXPECT_TRUE(values(u, "Service", "PrivateUsers").empty());
    EXPECT_TRUE(values(u, "Service", "DynamicUser").empty());
    EXPECT_EQ(value(u, "Unit", "PartOf"), "tailnetd.target");
    EXPECT_EQ(value(u, "Install", "WantedBy"), "tailnetd.target");
  }
}

TEST_F(PackagingTest, EachServiceHasItsNetworkProfile) {
  for (const auto& svc : SERVICES) {
    SCOPED_TRACE(svc);
    Unit u = loadUnit("tailnetd-" + svc + ".service");
    auto families = words(values(u, "Service", "RestrictAddressFamilies"));
    if (svc == "wgd" || svc == "ipnd" || svc == "apid") {
      EXPECT_EQ(value(u, "Service", "PrivateNetwork"), "yes");
      EXPECT_EQ(value(u, "Service", "IPAddressDeny"), "any");
      EXPECT_EQ(families, (std::set<std::string>{"AF_UNIX"}));
    } else if (svc == "netstackd") {
      // Its proxies dial destinations outside the tailnet through the host, as Go's userspace
      // mode does: an IP allow-list would break them under systemd only.
      EXPECT_TRUE(values(u, "Service", "IPAddressDeny").empty());
      EXPECT_EQ(families, (std::set<std::string>{"AF_UNIX", "AF_INET", "AF_INET6"}));
    } else if (svc == "magicsockd") {
      EXPECT_EQ(families, (std::set<std::string>{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}));
    } else {  // controld
      EXPECT_EQ(families, (std::set<std::string>{"AF_UNIX", "AF_INET", "AF_INET6"}));
    }
  }
}

TEST_F(PackagingTest, ExecStartFollowsTheArgvContract) {
  const std::map<std::string, std::string> extra = {{"magicsockd", " --port 41641"}, {"apid", " --owner-uid 0"}};
  for (const auto& svc : SERVICES) {
    SCOPED_TRACE(svc);
    Unit u = loadUnit("tailnetd-" + svc + ".service");
    auto it = extra.find(svc);
    EXPECT_EQ(values(u, "Service", "ExecStart"),
              (std::vector<std::string>{LIBEXEC + svc + " --runtime-dir /run/tailnetd --state-dir /var/lib/tailnetd/" +
                                        svc + (it == extra.end() ? "" : it->second)}));
  }
}

TEST_F(PackagingTest, TheLocalApiSocketIsHandedToApid) {
  Unit s = loadUnit("tailnetd-apid.socket");
  EXPECT_EQ(value(s, "Socket", "ListenStream"), "/run/tailnetd/tailnetd.sock");
  EXPECT_EQ(value(s, "Socket", "SocketMode"), "0666");
  EXPECT_EQ(value(s, "Socket", "Service"), "tailnetd-apid.service");
  EXPECT_EQ(value(s, "Socket", "Accept"), "<unset>");  // one listening fd, not one per client
  EXPECT_EQ(value(s, "Unit", "PartOf"), "tailnetd.target");
  EXPECT_EQ(value(s, "Install", "WantedBy"), "tailnetd.target");
  Unit a = loadUnit("tailnetd-apid.service");
  EXPECT_EQ(value(a, "Unit", "Requires"), "tailnetd-apid.socket");
  EXPECT_TRUE(words(values(a, "Unit", "After")).count("tailnetd-apid.socket"));
}

TEST_F(PackagingTest, EnablingTheTargetEnablesTheWholeGroup) {
  Unit t = loadUnit("tailnetd.target");
  EXPECT_EQ(value(t, "Install", "WantedBy"), "multi-user.target");
  std::set<std::string> want = {"tailnetd-apid.socket"};
  for (const auto& svc : SERVICES) want.insert("tailnetd-" + svc + ".service");
  EXPECT_EQ(words(values(t, "Install", "Also")), want);
}

TEST_F(PackagingTest, IpndConfigDropInLoadsACredential) {
  Unit d = parseUnit(readFile(unitDir() + "/tailnetd-ipnd-config.conf.example"));
  auto cred = value(d, "Service", "LoadCredential");
  ASSERT_EQ(cred.rfind("config:/", 0), 0u) << cred;
  auto exec = values(d, "Service", "ExecStart");
  ASSERT_EQ(exec.size(), 2u);
  EXPECT_EQ(exec[0], "");  // resets the unit's ExecStart=
  // Same argv as the unit, plus the credential on fd 3.
  EXPECT_NE(exec[1].find("exec " + LIBEXEC + "ipnd --runtime-dir /run/tailnetd --state-dir /var/lib/tailnetd/ipnd "
                         "--config-fd 3 3<%d/config'"),
            std::string::npos)
      << exec[1];
}

// --- systemd's own checks on copies that run this build's binaries --------------------------

TEST_F(PackagingTest, SystemdAnalyzeVerifyAcceptsTheUnits) {
  if (!haveAnalyze()) GTEST_SKIP() << "systemd-analyze is not installed";
  TempDir dir("tnet-units");
  std::string skip = copyUnitsForBuild(dir.path());
  if (!skip.empty()) GTEST_SKIP() << skip;
  std::vector<std::string> units;
  for (const auto& e : fs::directory_iterator(dir.path())) units.push_back(e.path().string());
  ASSERT_EQ(units.size(), SERVICES.size() + 2);  // + target + socket
  Verify v = verify(units);
  EXPECT_TRUE(v.ok) << v.report;
}

// The check above can fail: verify reports an unknown directive and a missing binary.
TEST_F(PackagingTest, SystemdAnalyzeVerifyRejectsABrokenCopy) {
  if (!haveAnalyze()) GTEST_SKIP() << "systemd-analyze is not installed";
  TempDir dir("tnet-units");
  std::string text = readFile(unitDir() + "/tailnetd-wgd.service");
  auto pos = text.find("PrivateNetwork=");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 15, "PrivateNetwrk=");
  writeFile(dir / "tailnetd-wgd.service", text);
  Verify v = verify({dir / "tailnetd-wgd.service"});
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.report.find("PrivateNetwrk"), std::string::npos) << v.report;
  EXPECT_NE(v.report.find(LIBEXEC + "wgd"), std::string::npos) << v.report;  // not executable here
}

TEST_F(PackagingTest, ExposureScoresStayWithinTheBars) {
  if (!haveAnalyze()) GTEST_SKIP() << "systemd-analyze is not installed";
  TempDir dir("tnet-units");
  std::string skip = copyUnitsForBuild(dir.path());
  if (!skip.empty()) GTEST_SKIP() << skip;

  std::printf("\n%-30s %8s %6s  %s\n", "unit", "exposure", "bar", "settings still exposed");
  for (const auto& svc : SERVICES) {
    std::string unit = "tailnetd-" + svc + ".service";
    std::string why;
    double score = exposure(dir / unit, &why);
    ASSERT_GE(score, 0) << unit << ": could not read the exposure:\n" << why;
    std::printf("%-30s %8.1f %6.1f  %s\n", unit.c_str(), score, exposureLimit(svc),
                exposedSettings(dir / unit).c_str());
    EXPECT_LE(score, exposureLimit(svc)) << unit;
  }
  std::printf("(anchors: Go tailscaled.service 9.6; the seed project's unit 2.1, its TUN unit 2.7; "
              "systemd-hostnamed about 1.5)\n\n");
  std::fflush(stdout);
}

// The documented config drop-in keeps ipnd verifiable and within its bar.
TEST_F(PackagingTest, IpndWithTheConfigDropInVerifiesAndScores) {
  if (!haveAnalyze()) GTEST_SKIP() << "systemd-analyze is not installed";
  if (access("/bin/sh", X_OK) != 0) GTEST_SKIP() << "no /bin/sh";
  TempDir dir("tnet-units");
  std::string skip = copyUnitsForBuild(dir.path());
  if (!skip.empty()) GTEST_SKIP() << skip;
  std::string dropIn = readFile(unitDir() + "/tailnetd-ipnd-config.conf.example");
  auto pos = dropIn.find(LIBEXEC + "ipnd ");
  ASSERT_NE(pos, std::string::npos);
  dropIn.replace(pos, LIBEXEC.size() + 4, harness::serviceDir() + "/ipnd");
  fs::create_directory(dir / "tailnetd-ipnd.service.d");
  writeFile(dir / "tailnetd-ipnd.service.d/config.conf", dropIn);
  Verify v = verify({dir / "tailnetd-ipnd.service"});
  EXPECT_TRUE(v.ok) << v.report;
  std::string why;
  double score = exposure(dir / "tailnetd-ipnd.service", &why);
  ASSERT_GE(score, 0) << why;
  EXPECT_LE(score, exposureLimit("ipnd"));
}

// --- sysusers and tmpfiles ------------------------------------------------------------------

struct PasswdEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
};

std::map<std::string, PasswdEntry> readPasswd(const std::string& path) {
  std::map<std::string, PasswdEntry> out;
  std::istringstream in(readFile(path));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string field;
    while (std::getline(ls, field, ':')) f.push_back(field);
    if (f.size() < 7) continue;
    out[f[0]] = {f[0], static_cast<uid_t>(std::stoul(f[2])), static_cast<gid_t>(std::stoul(f[3])), f[5], f[6]};
  }
  return out;
}

std::map<std::string, gid_t> readGroups(const std::string& path) {
  std::map<std::string, gid_t> out;
  std::istringstream in(readFile(path));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string field;
    while (std::getline(ls, field, ':')) f.push_back(field);
    if (f.size() >= 3) out[f[0]] = static_cast<gid_t>(std::stoul(f[2]));
  }
  return out;
}

TEST_F(PackagingTest, SysusersCreatesEveryUnitsUser) {
  std::string sysusers = tool("systemd-sysusers");
  if (sysusers.empty()) GTEST_SKIP() << "systemd-sysusers is not installed";
  if (geteuid() != 0) GTEST_SKIP() << "systemd-sysusers --root writes root-owned files: run as root";
  TempDir root("tnet-sysusers", 0755);
  fs::create_directory(root / "etc");  // sysusers locks <root>/etc/.pwd.lock
  ProcessResult r = run({sysusers, "--root=" + root.path(), packagingDir() + "/sysusers.d/tailnetd.conf"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;

  auto passwd = readPasswd(root / "etc/passwd");
  auto groups = readGroups(root / "etc/group");
  ASSERT_TRUE(groups.count("tailnetd")) << readFile(root / "etc/group");
  std::set<uid_t> uids;
  for (const auto& svc : SERVICES) {
    SCOPED_TRACE(svc);
    // The user the unit runs as is one sysusers creates.
    std::string user = value(loadUnit("tailnetd-" + svc + ".service"), "Service", "User");
    ASSERT_TRUE(passwd.count(user)) << readFile(root / "etc/passwd");
    const auto& e = passwd[user];
    EXPECT_EQ(e.gid, groups["tailnetd"]);
    EXPECT_NE(e.uid, 0u);
    EXPECT_EQ(e.home, "/");
    EXPECT_EQ(e.shell, "/usr/sbin/nologin");
    uids.insert(e.uid);
  }
  EXPECT_EQ(uids.size(), SERVICES.size());  // one identity per service

  // Idempotent: a second run (an upgrade) changes nothing.
  std::string before = readFile(root / "etc/passwd");
  r = run({sysusers, "--root=" + root.path(), packagingDir() + "/sysusers.d/tailnetd.conf"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(readFile(root / "etc/passwd"), before);
}

TEST_F(PackagingTest, TmpfilesCreatesTheRootOwnedParents) {
  std::string tmpfiles = tool("systemd-tmpfiles");
  if (tmpfiles.empty()) GTEST_SKIP() << "systemd-tmpfiles is not installed";
  if (geteuid() != 0) GTEST_SKIP() << "the directories are root's: run as root";
  TempDir root("tnet-tmpfiles", 0755);
  ProcessResult r =
      run({tmpfiles, "--create", "--root=" + root.path(), packagingDir() + "/tmpfiles.d/tailnetd.conf"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  for (const char* d : {"run/tailnetd", "var/lib/tailnetd"}) {
    SCOPED_TRACE(d);
    struct stat st {};
    ASSERT_EQ(lstat((root / d).c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, 0u);
  }
}

}  // namespace
}  // namespace tnet::packaging
