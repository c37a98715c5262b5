// The Asio side of tnet::bus::Loop, for the few translation units that use Asio or Beast
// directly (apid). Include it only there: Asio is slow to compile (BUILD-NOTES gotcha 8).
#pragma once

#include <boost/asio/io_context.hpp>
#include <utility>  // before Asio: g++ 12 + Boost 1.74 awaitable.hpp (BUILD-NOTES gotcha 9)

#include "libs/bus/loop.h"

namespace tnet::bus {

boost::asio::io_context& ioContext(Loop& loop);

}  // namespace tnet::bus
