// libFuzzer: the MapResponse JSON decoder (SAX, streaming peers) and the netmap delta rules.
// The input is a sequence of JSON documents separated by 0x1e (ASCII record separator), applied
// in order to one MapSession; each is also decoded as a RegisterResponse.
// Invariants: no crash; a rejected response leaves the netmap exactly as it was (same
// generation); peers stay sorted by unique ID; decoding is deterministic; a kept Hostinfo JSON
// stays within MAX_NODE_HOSTINFO_JSON and whois re-encodes it (ipnd) into valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "services/controld/core/map_decode.h"
#include "services/controld/core/netmap.h"
#include "services/controld/core/register_response.h"
#include "services/ipnd/core/peer_query.h"

using namespace tnet;
using namespace tnet::controld;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

// What ipnd's whois does with a node's Hostinfo JSON: the answer must be valid JSON.
void checkWhoIs(const Node& n) {
  check(n.hostinfoJson.size() <= MAX_NODE_HOSTINFO_JSON);
  ipnd::NodeFacts f;
  f.id = n.id;
  f.name = n.name;
  f.key = n.key.toString();
  f.hasHostinfo = n.hostinfo.has_value();
  if (n.hostinfo) f.hostname = n.hostinfo->hostname;
  f.hostinfoJson = n.hostinfoJson;
  auto out = ipnd::whoIsNodeJson(f, "ts.net", false);
  check(!nlohmann::json::parse(out, nullptr, false).is_discarded());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  MapSession session;
  int64_t now = 0;
  int docs = 0;
  while (docs++ < 16) {
    size_t cut = all.find('\x1e');
    std::string_view doc = all.substr(0, cut);
    (void)decodeRegisterResponse(doc);
    auto a = decodeMapResponse(doc);
    auto b = decodeMapResponse(doc);
    check(a.has_value() == b.has_value());
    if (a) {
      check(a->peers.has_value() == b->peers.has_value());
      if (a->peers) check(a->peers->size() == b->peers->size());
      const NetworkMap* before = session.netmap();
      uint64_t gen = before ? before->generation : 0;
      size_t peers = before ? before->peers.size() : 0;
      auto applied = session.apply(std::move(*a), ++now);
      const NetworkMap* after = session.netmap();
      if (!applied) {
        check((after ? after->generation : 0) == gen);
        check((after ? after->peers.size() : 0) == peers);
      } else if (after) {
        check(after->generation >= gen);
        for (size_t i = 1; i < after->peers.size(); ++i) {
          check(after->peers[i - 1].id < after->peers[i].id);
        }
        check(after->self.id != 0);
        checkWhoIs(after->self);
        for (size_t i = 0; i < after->peers.size() && i < 8; ++i) checkWhoIs(after->peers[i]);
      }
    }
    if (cut == std::string_view::npos) break;
    all.remove_prefix(cut + 1);
  }
  return 0;
}
