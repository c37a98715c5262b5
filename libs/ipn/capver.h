// The one Tailscale capability version (tailcfg.CapabilityVersion) the whole suite claims: in
// controld's RegisterRequest/MapRequest.Version, the Noise prologue and /key?v=, apid's
// Tailscale-Cap header and `tnet version`. docs/control.md explains why 116: every semantic Go's
// history lists at or below it is implemented or only names a node attribute we do not act on.
#pragma once

namespace tnet::ipn {

inline constexpr int CAPABILITY_VERSION = 116;

}  // namespace tnet::ipn
