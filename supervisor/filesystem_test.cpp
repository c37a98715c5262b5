#include "supervisor/filesystem.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "supervisor/config_handoff.h"

namespace tnet::supervisor {
namespace {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tnet-sup-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

mode_t modeOf(const std::string& p) {
  struct stat st {};
  stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

TEST_F(TempDirTest, EnsureDirectoryCreatesParentsAndFixesMode) {
  std::string d = dir_ + "/a/b/c";
  ASSERT_TRUE(ensureDirectory(d, 0700, std::nullopt));
  EXPECT_EQ(modeOf(d), 0700u);
  chmod(d.c_str(), 0777);
  ASSERT_TRUE(ensureDirectory(d, 0700, std::nullopt));
  EXPECT_EQ(modeOf(d), 0700u);
  // A symlink in place of the directory is refused.
  std::string link = dir_ + "/link";
  ASSERT_EQ(symlink(d.c_str(), link.c_str()), 0);
  EXPECT_FALSE(ensureDirectory(link, 0700, std::nullopt));
}

TEST_F(TempDirTest, EnsureDirectoryChownsServiceDirsAsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  std::string d = dir_ + "/svc";
  ASSERT_TRUE(ensureDirectory(d, 0700, std::nullopt));
  std::string f = d + "/file";
  FILE* fp = fopen(f.c_str(), "w");
  fclose(fp);
  ASSERT_TRUE(ensureDirectory(d, 0700, Owner{65534, 65534}));
  struct stat st {};
  stat(d.c_str(), &st);
  EXPECT_EQ(st.st_uid, 65534u);
  stat(f.c_str(), &st);
  EXPECT_EQ(st.st_uid, 65534u);
}

TEST_F(TempDirTest, RuntimeLockIsExclusive) {
  auto first = RuntimeLock::acquire(dir_);
  ASSERT_TRUE(first) << first.error().message;
  // flock locks belong to the open file description: a second open in this process conflicts.
  auto second = RuntimeLock::acquire(dir_);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("another tailnetd (pid " + std::to_string(getpid()) + ")"),
            std::string::npos)
      << second.error().message;
}

TEST_F(TempDirTest, LocalApiSocketRefusesALiveOwnerAndReplacesAStaleOne) {
  std::string path = dir_ + "/s.sock";
  auto fd = bindLocalApiSocket(path);
  ASSERT_TRUE(fd) << fd.error().message;
  EXPECT_EQ(modeOf(path), 0666u);
  auto again = bindLocalApiSocket(path);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("another tailnetd is running"), std::string::npos);
  close(*fd);  // the file stays: now it is stale
  auto replaced = bindLocalApiSocket(path);
  ASSERT_TRUE(replaced) << replaced.error().message;
  close(*replaced);
  std::string regular = dir_ + "/plain";
  FILE* fp = fopen(regular.c_str(), "w");
  fclose(fp);
  EXPECT_FALSE(bindLocalApiSocket(regular));
  EXPECT_FALSE(bindLocalApiSocket(dir_ + "/" + std::string(120, 'x')));
}

TEST_F(TempDirTest, RuntimeDirLengthIsChecked) {
  EXPECT_TRUE(checkRuntimeDirLength("/run/tailnetd"));
  EXPECT_FALSE(checkRuntimeDirLength("/" + std::string(100, 'r')));
}

TEST_F(TempDirTest, ConfigIsValidatedAndFileAuthKeysResolved) {
  std::string keyFile = dir_ + "/key";
  FILE* fp = fopen(keyFile.c_str(), "w");
  fputs("tskey-auth-abc\n", fp);
  fclose(fp);
  std::string cfg = dir_ + "/cfg.json";
  fp = fopen(cfg.c_str(), "w");
  fprintf(fp, "{\"Version\":\"alpha0\",\"AuthKey\":\"file:%s\"}", keyFile.c_str());
  fclose(fp);
  auto doc = loadConfigForIpnd(cfg);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_NE(doc->find("\"AuthKey\":\"tskey-auth-abc\""), std::string::npos) << *doc;
  EXPECT_EQ(doc->find("file:"), std::string::npos) << *doc;

  auto pipeFd = makeConfigPipe(*doc);
  ASSERT_TRUE(pipeFd);
  std::string read;
  char buf[256];
  ssize_t n;
  while ((n = ::read(*pipeFd, buf, sizeof(buf))) > 0) read.append(buf, static_cast<size_t>(n));
  close(*pipeFd);
  EXPECT_EQ(read, *doc);

  fp = fopen(cfg.c_str(), "w");
  fputs("{\"Version\":\"beta9\"}", fp);
  fclose(fp);
  auto bad = loadConfigForIpnd(cfg);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("beta9"), std::string::npos) << bad.error().message;
  fp = fopen(cfg.c_str(), "w");
  fputs("{not json", fp);
  fclose(fp);
  EXPECT_FALSE(loadConfigForIpnd(cfg));
  fp = fopen(cfg.c_str(), "w");
  fputs("{\"Version\":\"alpha0\",\"NoSuchField\":1}", fp);
  fclose(fp);
  EXPECT_FALSE(loadConfigForIpnd(cfg));
  fp = fopen(cfg.c_str(), "w");
  fputs("{\"Version\":\"alpha0\",\"AuthKey\":\"file:/nonexistent/key\"}", fp);
  fclose(fp);
  auto noKey = loadConfigForIpnd(cfg);
  ASSERT_FALSE(noKey);
  EXPECT_NE(noKey.error().message.find("/nonexistent/key"), std::string::npos);
  EXPECT_FALSE(loadConfigForIpnd(dir_ + "/missing.json"));

  // An oversized auth key file is refused with its path and the cap named, never truncated.
  fp = fopen(keyFile.c_str(), "w");
  for (int i = 0; i < 100000; ++i) fputc('k', fp);
  fclose(fp);
  fp = fopen(cfg.c_str(), "w");
  fprintf(fp, "{\"Version\":\"alpha0\",\"AuthKey\":\"file:%s\"}", keyFile.c_str());
  fclose(fp);
  auto huge = loadConfigForIpnd(cfg);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().kind, ErrorKind::INVALID);
  EXPECT_NE(huge.error().message.find("auth key file " + keyFile + " is larger than"), std::string::npos)
      << huge.error().message;
}

}  // namespace
}  // namespace tnet::supervisor
