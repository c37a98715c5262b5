#include "services/controld/core/requests.h"

#include <cassert>

#include "services/controld/core/capver.h"
#include "services/controld/core/go_time.h"

namespace tnet::controld {

crypto::SecretString registerRequestJson(const RegisterRequest& req) {
  ipn::OrderedJson j = ipn::OrderedJson::object();
  j["Version"] = CAPABILITY_VERSION;
  j["NodeKey"] = req.nodeKey.toString();
  j["OldNodeKey"] = req.oldNodeKey.toString();
  // We hold no tailnet-lock key: Go serialises the zero NLPublic this way.
  j["NLKey"] = "nlpub:" + std::string(64, '0');
  if (req.authKey) j["Auth"] = {{"AuthKey", *req.authKey}};
  j["Expiry"] = formatGoTime(req.expiry);
  j["Followup"] = req.followup;
  j["Hostinfo"] = hostinfoToJson(req.hostinfo);
  if (req.ephemeral) j["Ephemeral"] = true;
  j["NodeKeySignature"] = nullptr;  // Go's nil []byte
  if (!req.tailnet.empty()) j["Tailnet"] = req.tailnet;
  crypto::SecretString out(ipn::goMarshal(j));
  if (req.authKey) {
    // Wipe the copy nlohmann kept before it is freed.
    auto& s = j["Auth"]["AuthKey"].get_ref<std::string&>();
    std::fill(s.begin(), s.end(), '\0');
  }
  return out;
}

MapRequest streamingMapRequest(MapRequest base, bool zstd) {
  base.stream = true;
  base.keepAlive = true;
  base.omitPeers = false;
  base.compressZstd = zstd;
  return base;
}

MapRequest liteMapRequest(MapRequest base) {
  base.stream = false;
  base.keepAlive = true;
  base.omitPeers = true;
  return base;
}

std::string mapRequestJson(const MapRequest& req) {
  assert(req.endpointTypes.empty() || req.endpointTypes.size() == req.endpoints.size());
  ipn::OrderedJson j = ipn::OrderedJson::object();
  j["Version"] = CAPABILITY_VERSION;
  if (req.compressZstd) j["Compress"] = "zstd";
  if (req.keepAlive) j["KeepAlive"] = true;
  j["NodeKey"] = req.nodeKey.toString();
  j["DiscoKey"] = req.discoKey.toString();
  if (req.stream) j["Stream"] = true;
  j["Hostinfo"] = hostinfoToJson(req.hostinfo);
  if (!req.endpoints.empty()) {
    ipn::OrderedJson a = ipn::OrderedJson::array();
    for (const auto& e : req.endpoints) a.push_back(e.toString());
    j["Endpoints"] = std::move(a);
  }
  if (!req.endpointTypes.empty()) {
    ipn::OrderedJson a = ipn::OrderedJson::array();
    for (auto t : req.endpointTypes) a.push_back(static_cast<int>(t));
    j["EndpointTypes"] = std::move(a);
  }
  if (req.omitPeers) j["OmitPeers"] = true;
  if (!req.debugFlags.empty()) j["DebugFlags"] = req.debugFlags;
  return ipn::goMarshal(j);
}

}  // namespace tnet::controld
