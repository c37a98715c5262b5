// Test support: a small scripted control server on libs/net's Ts2021Server (real /key, real
// Noise, real HTTP/2) for controld's unit and contract tests. It answers /machine/register with
// whatever the test scripts, keeps /machine/map streams open for the test to push frames (real
// LE framing, zstd when asked), answers lite updates with 200, and records every request.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "libs/bus/loop.h"
#include "libs/net/ts2021_server.h"

namespace tnet::controld::testing {

struct RecordedRequest {
  std::string path;
  nlohmann::json body;  // parsed JSON (null if it did not parse)
  uint64_t connId = 0;
  std::string machinePublic;
};

class ScriptedControl {
 public:
  // A register handler gets the request and its writer; it answers now or keeps the writer.
  using RegisterHandler = std::function<void(const nlohmann::json&, std::shared_ptr<net::H2ResponseWriter>)>;
  // Called for each new streaming /machine/map request, after the 200 headers went out.
  using MapHandler = std::function<void(const nlohmann::json&, std::shared_ptr<net::H2ResponseWriter>)>;

  explicit ScriptedControl(bus::Loop& loop);
  ~ScriptedControl();

  std::string url() const;
  uint16_t port() const;
  net::Ts2021Server& server() { return *server_; }

  RegisterHandler onRegister;  // default: 200 {"MachineAuthorized":true,"User":{"ID":1},"Login":{"ID":1,"LoginName":"a@example.com"}}
  MapHandler onMap;            // default: send a standard initial map (selfMap())
  // When non-zero, the next streaming map request is answered with this status and "boom"
  // (then it resets to 0).
  int mapFailStatus = 0;

  const std::vector<RecordedRequest>& requests() const { return requests_; }
  size_t count(const std::string& path, std::function<bool(const nlohmann::json&)> pred = nullptr) const;
  // The writer of the newest streaming map request (nullptr before one arrived).
  std::shared_ptr<net::H2ResponseWriter> lastMapStream() const { return lastMap_; }
  size_t mapStreams() const { return mapStreams_; }

  // A frame: [u32 LE length][payload], payload = zstd(json) when `zstd`.
  static std::string frame(const std::string& json, bool zstd = true);
  // A minimal valid first MapResponse for `nodeKey` with `peers` peers (IDs 100…).
  static std::string selfMap(const std::string& nodeKey, int peers = 1);
  static std::string peerJson(int id);

 private:
  bus::Loop& loop_;
  std::unique_ptr<net::Ts2021Server> server_;
  std::vector<RecordedRequest> requests_;
  std::shared_ptr<net::H2ResponseWriter> lastMap_;
  size_t mapStreams_ = 0;
};

}  // namespace tnet::controld::testing
