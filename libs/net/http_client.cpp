#include "libs/net/http_client.h"

namespace tnet::net {

// TODO(net): first commit publishes the API; the Asio implementation follows.
void httpGet(bus::Loop& loop, std::string, HttpClientOptions, std::function<void(Result<HttpResponse>)> done) {
  loop.post([done = std::move(done)] { done(Error::unimplemented("httpGet: not implemented yet")); });
}

void fetchServerKey(bus::Loop& loop, std::string, uint16_t, HttpClientOptions,
                    std::function<void(Result<controlbase::ServerKeys>)> done) {
  loop.post([done = std::move(done)] { done(Error::unimplemented("fetchServerKey: not implemented yet")); });
}

}  // namespace tnet::net
