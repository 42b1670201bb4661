// Pipes; see include/tether/io/pipe.hpp.
#include "tether/io/pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <mutex>

#include "tether/io/error.hpp"

namespace tether::io {

namespace detail {

void ignore_sigpipe_once() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      ::sigemptyset(&ign.sa_mask);
      ::sigaction(SIGPIPE, &ign, nullptr);
    }
  });
}

}  // namespace detail

Task<std::string> PipeReader::read_to_end(Deadline deadline, std::size_t limit) {
  std::string out;
  char buf[16 << 10];
  for (;;) {
    std::size_t n = co_await read(buf, deadline);
    if (n == 0) co_return out;
    if (out.size() + n > limit) throw Error(ErrorKind::kOther, io_.describe("read"), "more than the output limit");
    out.append(buf, n);
  }
}

std::pair<PipeReader, PipeWriter> pipe() {
  detail::ignore_sigpipe_once();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw Error(errno, "pipe");
  PipeReader r;
  try {
    r = PipeReader(fds[0], "pipe");
  } catch (...) {
    ::close(fds[1]);
    throw;
  }
  return {std::move(r), PipeWriter(fds[1], "pipe")};
}

}  // namespace tether::io
