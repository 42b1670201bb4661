// tether/sync/error.hpp
//
// The errors of the synchronization primitives.
//
//   Closed   a Semaphore was closed (acquire() after or during close())
//
// Thread safety: immutable after construction; safe to share.
#pragma once

#include <string>

#include "tether/core/error.hpp"

namespace tether::sync {

// Thrown by Semaphore::acquire() when the semaphore is closed (before or while it waits).
class Closed : public Error {
 public:
  explicit Closed(const std::string& what = "semaphore closed") : Error(what) {}
};

}  // namespace tether::sync
