// tether/io/error.hpp
//
// The one failure type of the I/O layer: io::Error carries the system error code and the operation
// with its peer or path, so a log line says what failed and where ("connect to 127.0.0.1:1:
// connection refused"). A deadline that passes is tether::TimedOut (named the same way: "timed out:
// read from 127.0.0.1:5000"); cancellation is tether::Cancelled. Normal flow is a value: read()
// returning 0 at end of stream is not an error, but end of stream in the middle of read_exact() is.
//
//   io::ErrorKind   the named outcomes callers branch on (refused, reset, eof, ...)
//   io::Error       derived from tether::Error; kind(), code(), operation()
//
// Thread safety: immutable after construction; safe to share.
// Example: examples/io/echo_client.cpp
#pragma once

#include <string>
#include <system_error>

#include "tether/core/error.hpp"

namespace tether::io {

enum class ErrorKind {
  kOther,
  kConnectionRefused,  // ECONNREFUSED
  kConnectionReset,    // ECONNRESET, EPIPE: the peer went away
  kUnexpectedEof,      // end of stream before read_exact() had its bytes
  kInvalidAddress,     // an address that does not parse, or a name that does not resolve
  kTooManyOpenFiles,   // EMFILE, ENFILE
  kNotFound,           // ENOENT
  kPermissionDenied,   // EACCES, EPERM
  kAddressInUse,       // EADDRINUSE
  kAlreadyExists,      // EEXIST
};

// The kind an errno value maps to.
ErrorKind kind_of(int errno_value) noexcept;
const char* to_string(ErrorKind kind) noexcept;

class Error : public tether::Error {
 public:
  // From an errno value: the kind is derived from it.
  Error(int errno_value, std::string operation);
  // A kind without an errno (end of stream, an address that does not parse).
  Error(ErrorKind kind, std::string operation, std::string detail = {});
  // Rebuilt from its parts (e.g. after crossing threads): `message` is the whole what().
  Error(ErrorKind kind, int errno_value, std::string operation, std::string message);

  ErrorKind kind() const noexcept { return kind_; }
  // The system error (a default-constructed code for kinds without an errno).
  std::error_code code() const noexcept { return code_; }
  // The operation and its target, e.g. "read from 127.0.0.1:5000".
  const std::string& operation() const noexcept { return operation_; }

 private:
  ErrorKind kind_;
  std::error_code code_;
  std::string operation_;
};

}  // namespace tether::io
