// Per-watcher shaping of ipnd.notify events, as Go's notifyForSessionLocked: fields a watcher did
// not opt into are removed from the top-level Notify object. Removal edits the bytes ipnd sent
// (no re-encoding), so every kept field stays exactly as Go's encoder wrote it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "libs/base/result.h"
#include "libs/ipn/go_json.h"

namespace tnet::apid {

// Go's message to a watcher that fell behind, before its stream is closed.
inline constexpr std::string_view FELL_BEHIND_MESSAGE = "IPN bus consumer fell behind; closing watch";

// The top-level members of a JSON object, minus those named in `names` (compared after JSON
// unescaping of the key is NOT done: ipnd writes plain ASCII keys). The input is returned
// unchanged when nothing is removed. INVALID if `json` is not one well-formed object.
Result<std::string> removeTopLevelFields(std::string_view json, std::span<const std::string_view> names);

// The Notify a watcher with `mask` receives for the event `json` (Linux rules: NetMap is never
// stripped there). Fields:
//   PeersChanged, PeersRemoved, UserProfiles — only with NotifyPeerChanges or NotifyPeerPatches;
//   PeerChangedPatch — only with NotifyPeerPatches;
//   PeerState — only with NotifyPeerWireGuardState.
Result<std::string> notifyForMask(std::string_view json, uint64_t mask);

// One Go ipn.Notify carrying only Version and ErrMessage, as Go's encoder writes it (fields
// without omitempty appear as null), without the trailing newline.
std::string errorNotifyJson(std::string_view version, std::string_view message);

// A JSON string literal escaped as Go's encoding/json does: libs/ipn's single quoter.
using ipn::goJsonString;

}  // namespace tnet::apid
