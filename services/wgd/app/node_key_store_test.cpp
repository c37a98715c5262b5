// The node key store: prepare/commit/discard semantics, what survives a restart (and a crash at
// any point of a commit), file modes, and corrupt files set aside.
#include "services/wgd/app/node_key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tnet::wgd {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tnet-wgd-keys-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    path_ = tmpl;
    chmod(path_.c_str(), 0755);  // the store tightens it
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

unsigned modeOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(NodeKeyStore, FreshNodePreparesCommitsAndReloads) {
  TempDir dir;
  auto store = NodeKeyStore::open(dir.path());
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(modeOf(dir.path()), 0700u);
  EXPECT_FALSE(store->current());
  EXPECT_FALSE(store->pending());

  auto pub = store->prepare();
  ASSERT_TRUE(pub);
  EXPECT_EQ(modeOf(dir.file(PENDING_NODE_KEY_FILE)), 0600u);
  const std::string text = readFile(dir.file(PENDING_NODE_KEY_FILE));
  EXPECT_EQ(text.rfind("privkey:", 0), 0u);
  EXPECT_EQ(text.size(), 8u + 64u + 1u);
  // Preparing again returns the same pending key.
  EXPECT_EQ(*store->prepare(), *pub);
  // A restart before commit still has it pending.
  {
    auto again = NodeKeyStore::open(dir.path());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->pendingPublic(), *pub);
    EXPECT_FALSE(again->current());
  }
  auto changed = store->commit(*pub);
  ASSERT_TRUE(changed);
  EXPECT_TRUE(*changed);
  EXPECT_EQ(store->currentPublic(), *pub);
  EXPECT_FALSE(store->pending());
  EXPECT_EQ(store->commits(), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir.file(PENDING_NODE_KEY_FILE)));
  EXPECT_EQ(modeOf(dir.file(NODE_KEY_FILE)), 0600u);
  EXPECT_EQ(readFile(dir.file(NODE_KEY_FILE)), text) << "commit is a rename of the pending file";
  // Committing the current key again is fine and changes nothing.
  auto same = store->commit(*pub);
  ASSERT_TRUE(same);
  EXPECT_FALSE(*same);
  EXPECT_EQ(store->commits(), 1u);

  auto reloaded = NodeKeyStore::open(dir.path());
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->currentPublic(), *pub);
  EXPECT_TRUE(reloaded->current()->equals(*store->current()));
}

TEST(NodeKeyStore, CommitOfAnUnknownKeyAndDiscard) {
  TempDir dir;
  auto store = NodeKeyStore::open(dir.path());
  ASSERT_TRUE(store);
  auto first = *store->prepare();
  ASSERT_TRUE(store->commit(first));
  auto second = *store->prepare();
  EXPECT_NE(first, second);
  auto stranger = key::NodePrivate::generate().publicKey();
  auto r = store->commit(stranger);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::INVALID);
  ASSERT_TRUE(store->discardPending());
  EXPECT_FALSE(store->pending());
  EXPECT_FALSE(std::filesystem::exists(dir.file(PENDING_NODE_KEY_FILE)));
  EXPECT_FALSE(store->commit(second)) << "a discarded key cannot be committed";
  EXPECT_EQ(store->currentPublic(), first);
  // Re-keying: prepare, commit; the old current key is gone from disk.
  auto third = *store->prepare();
  ASSERT_TRUE(store->commit(third));
  EXPECT_EQ(NodeKeyStore::open(dir.path())->currentPublic(), third);
  EXPECT_EQ(store->commits(), 2u);
}

TEST(NodeKeyStore, CrashLeftoversAreHandled) {
  TempDir dir;
  key::NodePublic current, pending;
  {
    auto store = NodeKeyStore::open(dir.path());
    current = *store->prepare();
    ASSERT_TRUE(store->commit(current));
    pending = *store->prepare();
  }
  // A crash in the middle of writing a pending key leaves a temp file: ignored and removed.
  { std::ofstream(dir.file(PENDING_NODE_KEY_FILE) + ".tmp") << "privkey:00"; }
  auto store = NodeKeyStore::open(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->currentPublic(), current);
  EXPECT_EQ(store->pendingPublic(), pending);
  EXPECT_FALSE(std::filesystem::exists(dir.file(PENDING_NODE_KEY_FILE) + ".tmp"));
  // The commit is the rename: either both files (before) or the new node.key (after) exist.
  ASSERT_EQ(rename(dir.file(PENDING_NODE_KEY_FILE).c_str(), dir.file(NODE_KEY_FILE).c_str()), 0);
  auto after = NodeKeyStore::open(dir.path());
  ASSERT_TRUE(after);
  EXPECT_EQ(after->currentPublic(), pending);
  EXPECT_FALSE(after->pending());
}

TEST(NodeKeyStore, CorruptKeyFileIsSetAsideWithoutEchoingIt) {
  TempDir dir;
  { std::ofstream(dir.file(NODE_KEY_FILE)) << "privkey:zzzz-secret-looking-text"; }
  auto store = NodeKeyStore::open(dir.path());
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_FALSE(store->current());
  EXPECT_NE(store->problem().find("node.key was unusable"), std::string::npos) << store->problem();
  EXPECT_EQ(store->problem().find("secret-looking"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file(NODE_KEY_FILE)));
  bool asideFound = false;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind("node.key.corrupt-", 0) == 0) asideFound = true;
  }
  EXPECT_TRUE(asideFound);
  // An all-zero key is not a key either.
  { std::ofstream(dir.file(NODE_KEY_FILE)) << "privkey:" << std::string(64, '0') << "\n"; }
  auto zero = NodeKeyStore::open(dir.path());
  ASSERT_TRUE(zero);
  EXPECT_FALSE(zero->current());
}

TEST(NodeKeyStore, MissingStateDirIsAnError) {
  EXPECT_FALSE(NodeKeyStore::open("/nonexistent/tnet-wgd-state"));
}

}  // namespace
}  // namespace tnet::wgd
