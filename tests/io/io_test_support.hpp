// Helpers for the I/O tests: every test runs against both backends (epoll and io_uring; io_uring
// falls back to epoll where the kernel refuses it, which the backend test checks is logged).
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <string>

#include "tether/core/runtime.hpp"
#include "tether/core/runtime_options.hpp"

namespace tether::test {

class IoBackendTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  RuntimeOptions options(unsigned workers = 2) const {
    RuntimeOptions o;
    o.workers = workers;
    o.io_backend = GetParam();
    return o;
  }
};

inline std::string backend_name(const ::testing::TestParamInfo<::tether::IoBackend>& info) {
  return info.param == IoBackend::kEpoll ? "epoll" : "io_uring";
}

#define TETHER_IO_BACKENDS(Suite)                                                                         \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                                                               \
                           ::testing::Values(::tether::IoBackend::kEpoll, ::tether::IoBackend::kIoUring), \
                           ::tether::test::backend_name)

// Raises the soft fd limit to the hard one; returns the new soft limit.
inline rlim_t raise_fd_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

}  // namespace tether::test
