#include "libs/net/ts2021_client.h"

namespace tnet::net {

// TODO(net): first commit publishes the API; the implementation follows.
struct Ts2021Client::Impl {
  bus::Loop& loop;
};

std::unique_ptr<Ts2021Client> Ts2021Client::create(bus::Loop& loop, Ts2021ClientOptions, Callbacks) {
  return std::unique_ptr<Ts2021Client>(new Ts2021Client(std::make_shared<Impl>(Impl{loop})));
}
Ts2021Client::Ts2021Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ts2021Client::~Ts2021Client() = default;
void Ts2021Client::connect(std::function<void(Result<void>)> done) {
  impl_->loop.post([done = std::move(done)] { done(Error::unimplemented("ts2021 not implemented yet")); });
}
void Ts2021Client::request(H2Request, std::chrono::milliseconds, std::function<void(Result<H2Response>)> done) {
  impl_->loop.post([done = std::move(done)] { done(Error::unimplemented("ts2021 not implemented yet")); });
}
StreamHandle Ts2021Client::stream(H2Request, std::function<void(int, const HeaderList&)>,
                                  std::function<void(std::span<const uint8_t>)>,
                                  std::function<void(Result<void>)> onEnd) {
  impl_->loop.post([onEnd = std::move(onEnd)] { onEnd(Error::unimplemented("ts2021 not implemented yet")); });
  return StreamHandle();
}
bool Ts2021Client::connected() const { return false; }
void Ts2021Client::close() {}
Ts2021Client::Info Ts2021Client::info() const { return {}; }

}  // namespace tnet::net
