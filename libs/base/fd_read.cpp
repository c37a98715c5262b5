#include "libs/base/fd_read.h"

#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tnet {

Result<std::string> readFdToEnd(int fd, size_t limit) {
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::explicit_bzero(data.data(), data.size());
      return Error::failed(std::strerror(err));
    }
    if (n == 0) break;
    data.append(buf, size_t(n));
    if (data.size() > limit) {
      ::explicit_bzero(data.data(), data.size());
      ::explicit_bzero(buf, sizeof buf);
      return Error::invalid("more than " + std::to_string(limit) + " bytes");
    }
  }
  ::explicit_bzero(buf, sizeof buf);
  return data;
}

}  // namespace tnet
