// ipnd's per-service configs (schemas/wgd, magicsockd, netstackd, controld): made from the
// latest netmap, prefs, the committed node key and magicsockd's reports. A service whose node
// should carry no traffic (stopped, logged out, no netmap, expired key) gets an empty config,
// as Go resets its engine then.
#pragma once

#include <optional>
#include <string>

#include "schemas/common.capnp.h"
#include "schemas/controld.capnp.h"
#include "schemas/magicsockd.capnp.h"
#include "schemas/netmap.capnp.h"
#include "schemas/netstackd.capnp.h"
#include "schemas/wgd.capnp.h"
#include "services/ipnd/core/backend.h"

namespace tnet::ipnd {

struct ConfigSources {
  const Backend& backend;
  std::optional<schema::Netmap::Reader> netmap;   // controld.netmap, if any
  std::optional<schema::DerpState::Reader> derp;  // magicsockd.derp, if any
  std::string osHostname;
  std::string osVersion;  // uname release
  std::string machine;    // uname machine
};

void buildWgConfig(schema::WgConfig::Builder out, schema::Generation::Reader gen, const ConfigSources& src);
void buildMagicsockConfig(schema::MagicsockConfig::Builder out, schema::Generation::Reader gen,
                          const ConfigSources& src);
void buildNetstackConfig(schema::NetstackConfig::Builder out, schema::Generation::Reader gen,
                         const ConfigSources& src);
void buildControlConfig(schema::ControlConfig::Builder out, schema::Generation::Reader gen,
                        const ConfigSources& src);
// tailcfg.Hostinfo JSON (without NetInfo) for controld: Go's field names and omissions.
std::string hostinfoJson(const ConfigSources& src);

}  // namespace tnet::ipnd
