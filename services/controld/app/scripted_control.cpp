#include "services/controld/app/scripted_control.h"

#include <zstd.h>

#include <cassert>
#include <cstdio>

#include "libs/base/bytes.h"

namespace tnet::controld::testing {

namespace {

std::string hex64(int n) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%064x", n);
  return buf;
}

}  // namespace

ScriptedControl::ScriptedControl(bus::Loop& loop) : loop_(loop) {
  onRegister = [](const nlohmann::json&, std::shared_ptr<net::H2ResponseWriter> w) {
    w->respond(200, {{"content-type", "application/json"}},
               R"({"User":{"ID":1,"DisplayName":"A"},"Login":{"ID":1,"LoginName":"a@example.com"},)"
               R"("MachineAuthorized":true})");
  };
  onMap = [](const nlohmann::json& req, std::shared_ptr<net::H2ResponseWriter> w) {
    bool zstd = req.value("Compress", "") == "zstd";
    w->write(frame(selfMap(req.value("NodeKey", "")), zstd));
  };
  net::Ts2021ServerOptions opts;
  opts.serverKey = key::MachinePrivate::generate();
  opts.onNoiseRequest = [this](const net::NoisePeer& peer, net::ServerHttpRequest req,
                               std::shared_ptr<net::H2ResponseWriter> w) {
    RecordedRequest rec;
    rec.path = req.target;
    rec.body = nlohmann::json::parse(req.body, nullptr, false);
    if (rec.body.is_discarded()) rec.body = nullptr;
    rec.connId = peer.connId;
    rec.machinePublic = peer.machinePublic.toString();
    requests_.push_back(rec);
    if (req.target == "/machine/register") {
      onRegister(rec.body, w);
    } else if (req.target == "/machine/map") {
      if (rec.body.is_object() && rec.body.value("Stream", false) && mapFailStatus != 0) {
        int status = mapFailStatus;
        mapFailStatus = 0;
        w->respond(status, {}, "boom");
      } else if (rec.body.is_object() && rec.body.value("Stream", false)) {
        w->start(200, {{"content-type", "application/octet-stream"}});
        lastMap_ = w;
        ++mapStreams_;
        onMap(rec.body, w);
      } else {
        w->respond(200, {}, "");
      }
    } else {
      w->respond(404, {}, req.method == "HEAD" ? "" : "not found\n");  // HEAD answers carry no body
    }
  };
  auto server = net::Ts2021Server::create(loop_, std::move(opts));
  assert(server);
  server_ = std::move(*server);
}

ScriptedControl::~ScriptedControl() = default;

uint16_t ScriptedControl::port() const { return server_->port(); }
std::string ScriptedControl::url() const { return "http://127.0.0.1:" + std::to_string(port()); }

size_t ScriptedControl::count(const std::string& path, std::function<bool(const nlohmann::json&)> pred) const {
  size_t n = 0;
  for (const auto& r : requests_) {
    if (r.path == path && (!pred || pred(r.body))) ++n;
  }
  return n;
}

std::string ScriptedControl::frame(const std::string& json, bool zstd) {
  std::string payload = json;
  if (zstd) {
    payload.resize(ZSTD_compressBound(json.size()));
    size_t n = ZSTD_compress(payload.data(), payload.size(), json.data(), json.size(), 1);
    assert(!ZSTD_isError(n));
    payload.resize(n);
  }
  std::string out(4, '\0');
  putU32LE(reinterpret_cast<uint8_t*>(out.data()), static_cast<uint32_t>(payload.size()));
  return out + payload;
}

std::string ScriptedControl::peerJson(int id) {
  std::string ip = "100.64.1." + std::to_string(id % 250 + 1);
  return R"({"ID":)" + std::to_string(id) + R"(,"StableID":"p)" + std::to_string(id) + R"(","Name":"peer)" +
         std::to_string(id) + R"(.example.ts.net.","User":1,"Key":"nodekey:)" + hex64(id) +
         R"(","Machine":"mkey:)" + hex64(id + 7) + R"(","DiscoKey":"discokey:)" + hex64(id + 9) +
         R"(","Addresses":[")" + ip + R"(/32"],"HomeDERP":1})";
}

std::string ScriptedControl::selfMap(const std::string& nodeKey, int peers) {
  std::string peerList;
  for (int i = 0; i < peers; ++i) peerList += (i ? "," : "") + peerJson(100 + i);
  return R"({"Node":{"ID":1,"StableID":"self","Name":"a.example.ts.net.","User":1,"Key":")" + nodeKey +
         R"(","Machine":"mkey:)" + hex64(5) + R"(","Addresses":["100.64.0.1/32","fd7a:115c:a1e0::1/128"],)"
         R"("MachineAuthorized":true,"HomeDERP":1},)"
         R"("DERPMap":{"Regions":{"1":{"RegionID":1,"RegionCode":"test","RegionName":"Test","Nodes":[)"
         R"({"Name":"1a","RegionID":1,"HostName":"127.0.0.1","IPv4":"127.0.0.1","DERPPort":3340,"InsecureForTests":true}]}}},)"
         R"("Peers":[)" +
         peerList + R"(],"Domain":"example.ts.net","PacketFilter":[{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}],)"
         R"("UserProfiles":[{"ID":1,"LoginName":"a@example.com","DisplayName":"A"}]})";
}

}  // namespace tnet::controld::testing
