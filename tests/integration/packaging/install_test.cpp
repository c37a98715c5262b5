// `tnet install` / `tnet uninstall` (cli/install_plan.h): --dry-run prints exactly the files in
// packaging/ and works for any user; without --dry-run a non-root caller and a host without
// systemd as PID 1 get a clear error; a staged install (--root, as root) writes every file,
// creates the users and directories, enables the target, and uninstall takes it all away but
// the state dir.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/integration/harness/harness.h"

namespace tnet::harness {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> SERVICES = {"wgd", "magicsockd", "netstackd", "controld", "ipnd", "apid"};

std::string sourceDir() {
  const char* s = std::getenv("TNET_SOURCE_DIR");
  return s != nullptr && *s != 0 ? s : TNET_SOURCE_DIR_DEFAULT;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The dry-run's files: `write PATH (MODE, N bytes) <<'EOF'` … `EOF` → path → (mode, text).
struct Written {
  std::string mode;
  std::string text;
};
std::map<std::string, Written> writtenFiles(const std::string& out) {
  std::map<std::string, Written> files;
  std::istringstream in(out);
  std::string line;
  static const std::string WRITE = "write ";
  while (std::getline(in, line)) {
    if (line.rfind(WRITE, 0) != 0) continue;
    auto paren = line.find(" (");
    std::string path = line.substr(WRITE.size(), paren - WRITE.size());
    std::string mode = line.substr(paren + 2, 4);
    Written w{mode, ""};
    while (std::getline(in, line) && line != "EOF") w.text += line + "\n";
    files[path] = w;
  }
  return files;
}

std::vector<std::string> linesStartingWith(const std::string& out, const std::string& prefix) {
  std::vector<std::string> found;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) found.push_back(line);
  }
  return found;
}

class InstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing = missingBinaries({"tnet", "tailnetd"}) + missingServices();
    if (!missing.empty()) GTEST_SKIP() << missing;
    tnet_ = *findBinary("tnet");
  }
  ProcessResult tnet(const std::vector<std::string>& args, RunOptions opts = {}) {
    std::vector<std::string> argv = {tnet_};
    argv.insert(argv.end(), args.begin(), args.end());
    opts.timeout = 60s;
    return runProcess(argv, opts);
  }
  std::string tnet_;
};

TEST_F(InstallTest, DryRunPrintsExactlyThePackagingFiles) {
  auto r = tnet({"install", "--dry-run", "--from", serviceDir()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto files = writtenFiles(r.out);
  std::string pkg = sourceDir() + "/packaging/";
  int units = 0;
  for (const auto& e : fs::directory_iterator(pkg + "systemd")) {
    std::string name = e.path().filename().string();
    if (name.find(".example") != std::string::npos) {
      ASSERT_TRUE(files.count("/usr/local/share/doc/tailnetd/" + name)) << name;
      EXPECT_EQ(files["/usr/local/share/doc/tailnetd/" + name].text, readFile(e.path()));
      continue;
    }
    std::string to = "/usr/local/lib/systemd/system/" + name;
    ASSERT_TRUE(files.count(to)) << to << " not written\n" << r.out;
    EXPECT_EQ(files[to].text, readFile(e.path())) << to;
    EXPECT_EQ(files[to].mode, "0644") << to;
    ++units;
  }
  EXPECT_EQ(units, 8);  // six services, the socket, the target
  EXPECT_EQ(files["/usr/local/lib/sysusers.d/tailnetd.conf"].text,
            readFile(pkg + "sysusers.d/tailnetd.conf"));
  EXPECT_EQ(files["/usr/local/lib/tmpfiles.d/tailnetd.conf"].text,
            readFile(pkg + "tmpfiles.d/tailnetd.conf"));
  EXPECT_EQ(files["/usr/local/share/doc/tailnetd/operations.md"].text,
            readFile(sourceDir() + "/docs/operations.md"));

  // The daemons go to libexec (ExecStart= of the units), tailnetd beside them, tnet on PATH.
  for (const auto& svc : SERVICES) {
    std::string want =
        "copy " + serviceDir() + "/" + svc + " -> /usr/local/libexec/tailnetd/" + svc + " (0755)";
    EXPECT_EQ(linesStartingWith(r.out, want).size(), 1u) << want << "\n" << r.out;
  }
  EXPECT_EQ(
      linesStartingWith(r.out, "symlink /usr/local/bin/tailnetd -> ../libexec/tailnetd/tailnetd").size(), 1u);
  EXPECT_EQ(linesStartingWith(r.out, "copy " + serviceDir() + "/tnet -> /usr/local/bin/tnet").size(), 1u);
  auto runs = linesStartingWith(r.out, "run ");
  std::vector<std::string> want = {
      "run systemd-sysusers /usr/local/lib/sysusers.d/tailnetd.conf",
      "run systemd-tmpfiles --create /usr/local/lib/tmpfiles.d/tailnetd.conf",
      "run systemctl daemon-reload",
      "run systemctl enable tailnetd.target",
      "run systemctl restart tailnetd-wgd.service tailnetd-magicsockd.service tailnetd-netstackd.service "
      "tailnetd-controld.service tailnetd-ipnd.service tailnetd-apid.service",
      "run systemctl start tailnetd.target"};
  EXPECT_EQ(runs, want) << r.out;
}

TEST_F(InstallTest, DryRunWorksForAnyUser) {
  if (geteuid() != 0) GTEST_SKIP() << "runs as nobody: needs root";
  TempDir scratch("tnet-install-bin", 0755);
  auto dir =
      binariesReachableBy(nobodyUid(), nogroupGid(),
                          {"tnet", "tailnetd", "wgd", "magicsockd", "netstackd", "controld", "ipnd", "apid"},
                          scratch.path(), serviceDir());
  ASSERT_TRUE(dir) << dir.error().message;
  for (const char* verb : {"install", "uninstall"}) {
    RunOptions o;
    o.uid = nobodyUid();
    o.gid = nogroupGid();
    std::vector<std::string> argv = {*dir + "/tnet", verb, "--dry-run"};
    auto r = runProcess(argv, o);
    EXPECT_EQ(r.exitCode, 0) << verb << ": " << r.err;
    EXPECT_NE(r.out.find(std::string("# tnet ") + verb + " --dry-run: nothing is changed"),
              std::string::npos);
  }
}

TEST_F(InstallTest, NonRootIsRefusedWithoutDryRun) {
  if (geteuid() != 0) {
    auto r = tnet({"install"});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.err.find("tnet install: must be run as root"), std::string::npos) << r.err;
    return;
  }
  RunOptions o;
  o.uid = nobodyUid();
  o.gid = nogroupGid();
  TempDir scratch("tnet-install-bin", 0755);
  auto dir = binariesReachableBy(nobodyUid(), nogroupGid(), {"tnet"}, scratch.path(), serviceDir());
  ASSERT_TRUE(dir) << dir.error().message;
  for (const char* verb : {"install", "uninstall"}) {
    auto r = runProcess({*dir + "/tnet", verb}, o);
    EXPECT_EQ(r.exitCode, 1) << verb;
    EXPECT_NE(r.err.find(std::string("tnet ") + verb + ": must be run as root (try: sudo tnet " + verb + ")"),
              std::string::npos)
        << r.err;
  }
}

TEST_F(InstallTest, AHostWithoutSystemdIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "the root check comes first: needs root";
  struct stat st {};
  if (lstat("/run/systemd/system", &st) == 0)
    GTEST_SKIP() << "systemd is PID 1 here: not installing for real";
  for (const char* verb : {"install", "uninstall"}) {
    auto r = tnet({verb});
    EXPECT_EQ(r.exitCode, 1) << verb;
    EXPECT_NE(r.err.find("systemd is not running as PID 1 on this host"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists("/usr/local/libexec/tailnetd/wgd") && !fs::exists("/run/systemd/system"))
      << "a refused install wrote files";
}

TEST_F(InstallTest, MissingBinariesAreNamed) {
  TempDir empty("tnet-install-empty");
  auto r = tnet({"install", "--dry-run", "--from", empty.path()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("missing in " + empty.path() +
                       ": wgd, magicsockd, netstackd, controld, ipnd, apid, tailnetd, tnet"),
            std::string::npos)
      << r.err;
}

TEST_F(InstallTest, StagedInstallThenUninstallKeepsTheStateDir) {
  if (geteuid() != 0) GTEST_SKIP() << "systemd-sysusers --root writes root-owned files: needs root";
  for (const char* t : {"/usr/bin/systemctl", "/usr/bin/systemd-sysusers", "/usr/bin/systemd-tmpfiles"}) {
    if (access(t, X_OK) != 0) GTEST_SKIP() << t << " is not installed";
  }
  TempDir root("tnet-install-root", 0755);
  fs::create_directories(root / "etc");  // an image has /etc; sysusers locks <root>/etc/.pwd.lock
  auto r = tnet({"install", "--root", root.path(), "--from", serviceDir()});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("note: tailnetd is installed in " + root.path()), std::string::npos) << r.out;

  for (const auto& svc : SERVICES) {
    std::string bin = root / ("usr/local/libexec/tailnetd/" + svc);
    struct stat st {};
    ASSERT_EQ(stat(bin.c_str(), &st), 0) << bin;
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_EQ(readFile(bin), readFile(serviceDir() + "/" + svc)) << svc;
    std::string unit = root / ("usr/local/lib/systemd/system/tailnetd-" + svc + ".service");
    EXPECT_EQ(readFile(unit), readFile(sourceDir() + "/packaging/systemd/tailnetd-" + svc + ".service"));
    // Enabled through the target's Also=.
    EXPECT_TRUE(
        fs::is_symlink(root / ("etc/systemd/system/tailnetd.target.wants/tailnetd-" + svc + ".service")))
        << svc;
  }
  EXPECT_TRUE(fs::is_symlink(root / "etc/systemd/system/multi-user.target.wants/tailnetd.target"));
  EXPECT_EQ(fs::read_symlink(root / "usr/local/bin/tailnetd"), "../libexec/tailnetd/tailnetd");
  EXPECT_TRUE(fs::is_regular_file(root / "usr/local/bin/tnet"));
  // sysusers and tmpfiles ran inside the root.
  std::string passwd = readFile(root / "etc/passwd");
  for (const auto& svc : SERVICES)
    EXPECT_NE(passwd.find("tailnetd-" + svc + ":"), std::string::npos) << passwd;
  EXPECT_TRUE(fs::is_directory(root / "var/lib/tailnetd"));
  EXPECT_TRUE(fs::is_directory(root / "run/tailnetd"));

  // A second install (an upgrade) succeeds and changes nothing in passwd.
  auto again = tnet({"install", "--root", root.path(), "--from", serviceDir()});
  ASSERT_EQ(again.exitCode, 0) << again.err;
  EXPECT_EQ(readFile(root / "etc/passwd"), passwd);

  // Keys live in the state dir: uninstall keeps it and says so.
  fs::create_directories(root / "var/lib/tailnetd/wgd");
  { std::ofstream(root / "var/lib/tailnetd/wgd/node.key") << "key"; }
  auto un = tnet({"uninstall", "--root", root.path()});
  ASSERT_EQ(un.exitCode, 0) << un.out << un.err;
  EXPECT_NE(un.out.find("note: kept /var/lib/tailnetd"), std::string::npos) << un.out;
  EXPECT_EQ(readFile(root / "var/lib/tailnetd/wgd/node.key"), "key");
  EXPECT_FALSE(fs::exists(root / "usr/local/libexec/tailnetd"));
  EXPECT_FALSE(fs::exists(root / "usr/local/lib/systemd/system/tailnetd.target"));
  EXPECT_FALSE(fs::exists(root / "usr/local/lib/systemd/system/tailnetd-wgd.service"));
  EXPECT_FALSE(fs::exists(root / "usr/local/lib/sysusers.d/tailnetd.conf"));
  EXPECT_FALSE(fs::is_symlink(root / "usr/local/bin/tailnetd"));
  EXPECT_FALSE(fs::exists(root / "usr/local/bin/tnet"));
  EXPECT_FALSE(fs::exists(root / "etc/systemd/system/multi-user.target.wants/tailnetd.target"));
  EXPECT_FALSE(fs::exists(root / "etc/systemd/system/tailnetd.target.wants/tailnetd-wgd.service"));
}

}  // namespace
}  // namespace tnet::harness
