// The on-disk form of ipnd's state, `<state-dir>/prefs.json` (mode 0600):
//   {"Format":"tailnetd-prefs/1","Prefs":{…Go ipn.Prefs JSON…},"NodePublicKey":"nodekey:…"}
// NodePublicKey is present only once control accepted a node key (HaveNodeKey). No secret is
// ever stored here: the node private key lives in wgd, the auth key only in memory.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "libs/base/result.h"
#include "libs/ipn/prefs.h"

namespace tnet::ipnd {

inline constexpr std::string_view PREFS_FILE_FORMAT = "tailnetd-prefs/1";

struct PrefsFile {
  ipn::Prefs prefs = ipn::newPrefs();
  std::optional<std::string> nodePublicKey;  // "nodekey:<64 hex>"
};

std::string encodePrefsFile(const PrefsFile& f);
// Strict: anything unexpected is an error (the caller then treats the file as corrupt).
Result<PrefsFile> decodePrefsFile(std::string_view bytes);

bool isNodePublicKeyText(std::string_view s);

}  // namespace tnet::ipnd
