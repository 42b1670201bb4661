// tether/core/error.hpp
//
// The exceptions that travel through `co_await`. Every failure tether raises derives from
// tether::Error, so `catch (const tether::Error&)` sees them all; outcomes that are normal flow
// (a closed channel, a full try_send) are values, never exceptions.
//
//   Error      base of every tether exception
//   Cancelled  the task (or the scope it runs in) was cancelled while it waited
//   TimedOut   a deadline passed; what() names the operation that timed out
//
// Thread safety: immutable after construction; safe to share.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace tether {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown at a suspension point of a task whose cancellation token has fired. Catching it and
// carrying on is allowed (cleanup), but the task stays cancelled: its next suspension throws again.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
  explicit Cancelled(const std::string& what) : Error(what) {}
};

// Thrown when a deadline passes. The message names what timed out, e.g. "timed out: recv".
class TimedOut : public Error {
 public:
  explicit TimedOut(const std::string& what) : Error("timed out: " + what) {}
};

namespace detail {

// The message of `e` for logs: what() of a std::exception, else "unknown exception".
inline std::string exception_message(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace detail

}  // namespace tether
