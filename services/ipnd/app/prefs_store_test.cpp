#include "services/ipnd/app/prefs_store.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tnet::ipnd {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/ipnd-prefs-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

std::string readFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(PrefsStore, MissingFileGivesDefaults) {
  TempDir d;
  auto l = loadPrefsFile(d.path, 100);
  EXPECT_FALSE(l.health);
  EXPECT_FALSE(l.unhealthy);
  EXPECT_TRUE(l.file.prefs.corpDns);
}

TEST(PrefsStore, SaveIsMode0600AndLoadsBack) {
  TempDir d;
  PrefsFile f;
  f.prefs.hostname = "saved";
  f.nodePublicKey = "nodekey:" + std::string(64, 'd');
  ASSERT_TRUE(savePrefsFile(d.path, f));
  struct stat st {};
  ASSERT_EQ(::stat((d.path + "/prefs.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto l = loadPrefsFile(d.path, 100);
  EXPECT_FALSE(l.health);
  EXPECT_EQ(l.file.prefs.hostname, "saved");
  EXPECT_EQ(l.file.nodePublicKey, f.nodePublicKey);
  for (const auto& e : fs::directory_iterator(d.path)) {
    EXPECT_EQ(e.path().filename(), "prefs.json") << "no temp file left behind";
  }
}

TEST(PrefsStore, MeasureSaveLatency) {
  TempDir d;
  PrefsFile f;
  constexpr int N = 50;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < N; ++i) {
    f.prefs.hostname = "h" + std::to_string(i);
    ASSERT_TRUE(savePrefsFile(d.path, f));
  }
  auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[measure] prefs.json save (write, fsync, rename, fsync dir): %lld us each on %s\n",
              static_cast<long long>(us / N), d.path.c_str());
}

TEST(PrefsStore, CorruptFileIsSetAsideReportedAndNeverSilentlyReplaced) {
  TempDir d;
  std::string p = d.path + "/prefs.json";
  { std::ofstream(p) << "{\"Format\":\"tailnetd-prefs/1\",\"Prefs\":{\"WantRunning\":tr"; }
  auto l = loadPrefsFile(d.path, 1700000000);
  EXPECT_FALSE(l.unhealthy);
  ASSERT_TRUE(l.health);
  EXPECT_NE(l.health->find("prefs.json.corrupt-1700000000"), std::string::npos) << *l.health;
  EXPECT_FALSE(fs::exists(p));
  EXPECT_EQ(readFile(p + ".corrupt-1700000000"),
            "{\"Format\":\"tailnetd-prefs/1\",\"Prefs\":{\"WantRunning\":tr")
      << "the bad bytes are kept for inspection";
  // A second corrupt file in the same second does not clobber the first.
  { std::ofstream(p) << "garbage"; }
  l = loadPrefsFile(d.path, 1700000000);
  ASSERT_TRUE(l.health);
  EXPECT_TRUE(fs::exists(p + ".corrupt-1700000000.1"));
  EXPECT_EQ(readFile(p + ".corrupt-1700000000"),
            "{\"Format\":\"tailnetd-prefs/1\",\"Prefs\":{\"WantRunning\":tr");
}

TEST(PrefsStore, UnreadableFileIsSetAside) {
  TempDir d;
  fs::create_directory(d.path + "/prefs.json");  // unreadable as a file, even for root
  auto l = loadPrefsFile(d.path, 5);
  ASSERT_TRUE(l.health);
  EXPECT_NE(l.health->find("not a regular file"), std::string::npos) << *l.health;
  EXPECT_TRUE(fs::is_directory(d.path + "/prefs.json.corrupt-5"));
}

TEST(PrefsStore, UnmovableBadFileMakesTheStoreUnhealthy) {
  // A directory the process may read but not write: the bad file cannot be set aside. Root
  // ignores directory permissions, so as root the check runs in a child that drops to nobody.
  TempDir d;
  { std::ofstream(d.path + "/prefs.json") << "bad"; }
  uid_t nobody = 65534;
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(d.path.c_str(), nobody, nobody), 0);
    ASSERT_EQ(::chown((d.path + "/prefs.json").c_str(), nobody, nobody), 0);
  }
  ::chmod(d.path.c_str(), 0500);
  auto check = [&]() -> int {
    auto l = loadPrefsFile(d.path, 5);
    if (!l.unhealthy) return 10;
    if (l.unhealthy->find("could not be set aside") == std::string::npos) return 11;
    return 0;
  };
  int rc;
  if (::geteuid() == 0) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setresgid(nobody, nobody, nobody) != 0 ||
          ::setresuid(nobody, nobody, nobody) != 0) {
        ::_exit(20);
      }
      ::_exit(check());
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
  } else {
    rc = check();
  }
  ::chmod(d.path.c_str(), 0700);
  EXPECT_EQ(rc, 0) << "10: not unhealthy, 11: wrong message, 20: could not drop to nobody";
  EXPECT_EQ(readFile(d.path + "/prefs.json"), "bad") << "the bad file is left untouched";
}

TEST(PrefsStore, KilledDuringWritesTheFileIsAlwaysReadable) {
  TempDir d;
  PrefsFile first;
  first.prefs.hostname = "h0";
  ASSERT_TRUE(savePrefsFile(d.path, first));
  for (int round = 0; round < 40; ++round) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      PrefsFile f;
      for (int i = 0;; ++i) {
        f.prefs.hostname = "h" + std::to_string(i) + std::string(size_t(i % 3000), 'x');
        f.prefs.advertiseTags = std::vector<std::string>(size_t(i % 50), "tag:t");
        if (!savePrefsFile(d.path, f)) ::_exit(3);
      }
    }
    ::usleep(useconds_t(2000 + (round * 7919) % 20000));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer must have been killed, not failed";
    auto l = loadPrefsFile(d.path, 1000 + round);
    ASSERT_FALSE(l.unhealthy) << *l.unhealthy;
    ASSERT_FALSE(l.health) << "round " << round << ": " << *l.health;
    EXPECT_EQ(l.file.prefs.hostname.rfind('h', 0), 0u);
  }
}

}  // namespace
}  // namespace tnet::ipnd
