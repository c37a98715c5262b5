// DERP client connection policy (Go wgengine/magicsock/derp.go, derp/derphttp, logtail/backoff):
// which region is home, when to (re)connect, when to close idle non-home connections, and when
// to send NotePreferred. Pure: the app owns the connections and reports events with `now`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <variant>
#include <vector>

#include "services/magicsockd/core/derp_map.h"
#include "services/magicsockd/core/mono_time.h"

namespace tnet::magicsock {

// Go logtail/backoff.Backoff: after the n-th consecutive failure wait n² × 10 ms, capped at the
// maximum (5 s for DERP), scaled by a uniform factor in [0.5, 1.5) against thundering herds.
class ReconnectBackoff {
 public:
  // `uniform01` returns a value in [0, 1): the CSPRNG in production, fixed values in tests.
  explicit ReconnectBackoff(std::function<double()> uniform01, Duration maxBackoff);
  Duration nextDelay();  // records one more failure and returns the wait before retrying
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::function<double()> uniform01_;
  Duration max_;
  int failures_ = 0;
};

// magicsock's home-region choice (Conn.maybeSetNearestDERP + pickDERPFallback): netcheck's
// PreferredDERP; if 0, keep the current home or pick a random measurable region. While cut off
// from control the home does not move unless there is none yet. 0: no DERP at all.
int chooseHomeRegion(int preferredDerp, int currentHome, bool controlReachable, const DerpMap& dm,
                     const std::function<size_t(size_t)>& randomIndex);

struct ConnectRegion {
  int region;
};
struct CloseRegion {
  int region;
  const char* reason;  // stable words for logs: "idle", "read-timeout", "not-in-map"
};
struct SendNotePreferred {
  int region;
  bool preferred;
};
using DerpAction = std::variant<ConnectRegion, CloseRegion, SendNotePreferred>;

class DerpConnectionPolicy {
 public:
  explicit DerpConnectionPolicy(std::function<double()> uniform01);

  // Home changed (or set first): connect to it if needed, NotePreferred(true) on it and
  // NotePreferred(false) on every other open connection.
  void setHome(MonoTime now, int region, std::vector<DerpAction>& out);
  int home() const { return home_; }

  // We need to send to `region` (a peer's home): connects on demand, counts as a write.
  void noteWrite(MonoTime now, int region, std::vector<DerpAction>& out);
  // Any frame read from the region (KeepAlive, Ping, packets) resets its read deadline.
  void noteRead(MonoTime now, int region);
  // The handshake finished (ServerInfo received).
  void noteConnected(MonoTime now, int region, std::vector<DerpAction>& out);
  // The connection failed or dropped: the home region reconnects after the backoff delay;
  // a non-home region only reconnects on its next write.
  void noteDisconnected(MonoTime now, int region);

  MonoTime tick(MonoTime now, std::vector<DerpAction>& out);
  MonoTime nextDeadline() const;

  bool isOpen(int region) const;
  size_t openCount() const;

 private:
  enum class State { CONNECTING, CONNECTED, WAITING };
  struct Conn {
    State state = State::CONNECTING;
    MonoTime lastWrite;
    MonoTime lastRead;
    MonoTime retryAt = NEVER;
    ReconnectBackoff backoff;
  };
  Conn& connect(MonoTime now, int region, std::vector<DerpAction>& out);

  std::function<double()> uniform01_;
  std::map<int, Conn> conns_;
  int home_ = 0;
  MonoTime nextCleanAt_ = NEVER;
};

}  // namespace tnet::magicsock
