// NetworkMap (services/controld/core/netmap.h) → schema::Netmap, the complete snapshot controld
// publishes on controld.netmap. Optional Go fields that are absent become empty lists / zero /
// has* = false (a peer without Hostinfo or endpoints is normal).
#pragma once

#include "schemas/netmap.capnp.h"
#include "services/controld/core/netmap.h"

namespace tnet::controld {

void fillNetmap(schema::Netmap::Builder out, const NetworkMap& nm);
void fillNode(schema::Node::Builder out, const Node& node);

}  // namespace tnet::controld
