#include "libs/base/result.h"

namespace tnet {

std::string_view errorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::FAILED: return "failed";
    case ErrorKind::INVALID: return "invalid";
    case ErrorKind::DENIED: return "denied";
    case ErrorKind::OVERLOADED: return "overloaded";
    case ErrorKind::DISCONNECTED: return "disconnected";
    case ErrorKind::UNIMPLEMENTED: return "unimplemented";
  }
  return "failed";
}

}  // namespace tnet
