// The node key on disk (ARCHITECTURE.md §Keys): <state-dir>/node.key is the current key and
// <state-dir>/node.key.pending the one ipnd prepared for a registration, each "privkey:<hex>\n"
// in a 0600 file of the 0700 state dir. Keys live in sodium_malloc memory; the text passes
// through wiped buffers only.
//
// Crash safety: a key file is written to a temp name, fsynced, renamed into place and the
// directory fsynced. Commit is one rename(pending → current), so after a crash the store holds
// either the old current key with the pending one, or the new current key: never neither.
#pragma once

#include <optional>
#include <string>

#include "libs/base/result.h"
#include "libs/wire/keys.h"

namespace tnet::wgd {

inline constexpr const char* NODE_KEY_FILE = "node.key";
inline constexpr const char* PENDING_NODE_KEY_FILE = "node.key.pending";

class NodeKeyStore {
 public:
  // Loads what `stateDir` holds (made 0700 if we own it). An unreadable key file is renamed to
  // <name>.corrupt-<unix time> and reported in `problem()`; the store then starts without it.
  static Result<NodeKeyStore> open(std::string stateDir);

  NodeKeyStore(NodeKeyStore&&) = default;
  NodeKeyStore& operator=(NodeKeyStore&&) = default;

  const std::optional<key::NodePrivate>& current() const { return current_; }
  const std::optional<key::NodePrivate>& pending() const { return pending_; }
  std::optional<key::NodePublic> currentPublic() const;
  std::optional<key::NodePublic> pendingPublic() const;
  uint64_t commits() const { return commits_; }
  const std::string& problem() const { return problem_; }

  // The pending key, generated and persisted first if there is none.
  Result<key::NodePublic> prepare();
  // Makes the pending key `pub` current. Committing the current key again is a no-op success;
  // any other key is INVALID. Returns true when the current key changed.
  Result<bool> commit(const key::NodePublic& pub);
  Result<void> discardPending();

 private:
  explicit NodeKeyStore(std::string stateDir) : dir_(std::move(stateDir)) {}
  std::string pathOf(const char* name) const { return dir_ + "/" + name; }
  Result<std::optional<key::NodePrivate>> load(const char* name);

  std::string dir_;
  std::optional<key::NodePrivate> current_, pending_;
  uint64_t commits_ = 0;
  std::string problem_;
};

}  // namespace tnet::wgd
