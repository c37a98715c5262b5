#include "libs/net/ts2021_server.h"

namespace tnet::net {

// TODO(net): first commit publishes the API; the implementation follows.
struct Ts2021Server::Impl {
  key::MachinePublic pub;
};

Result<std::unique_ptr<Ts2021Server>> Ts2021Server::create(bus::Loop&, Ts2021ServerOptions) {
  return Error::unimplemented("Ts2021Server not implemented yet");
}
Ts2021Server::Ts2021Server(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ts2021Server::~Ts2021Server() = default;
uint16_t Ts2021Server::port() const { return 0; }
key::MachinePublic Ts2021Server::publicKey() const { return impl_->pub; }
size_t Ts2021Server::noiseConnections() const { return 0; }
bool Ts2021Server::closeNoise(uint64_t, bool) { return false; }

}  // namespace tnet::net
