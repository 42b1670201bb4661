// io::Error; see include/tether/io/error.hpp.
#include "tether/io/error.hpp"

#include <cerrno>
#include <cstring>

namespace tether::io {

ErrorKind kind_of(int e) noexcept {
  switch (e) {
    case ECONNREFUSED:
      return ErrorKind::kConnectionRefused;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
      return ErrorKind::kConnectionReset;
    case EMFILE:
    case ENFILE:
      return ErrorKind::kTooManyOpenFiles;
    case ENOENT:
      return ErrorKind::kNotFound;
    case EACCES:
    case EPERM:
      return ErrorKind::kPermissionDenied;
    case EADDRINUSE:
      return ErrorKind::kAddressInUse;
    case EEXIST:
      return ErrorKind::kAlreadyExists;
    case EINVAL:
    case EAFNOSUPPORT:
    case EADDRNOTAVAIL:
      return ErrorKind::kInvalidAddress;
    default:
      return ErrorKind::kOther;
  }
}

const char* to_string(ErrorKind k) noexcept {
  switch (k) {
    case ErrorKind::kConnectionRefused:
      return "connection refused";
    case ErrorKind::kConnectionReset:
      return "connection reset by peer";
    case ErrorKind::kUnexpectedEof:
      return "unexpected end of stream";
    case ErrorKind::kInvalidAddress:
      return "invalid address";
    case ErrorKind::kTooManyOpenFiles:
      return "too many open files";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kPermissionDenied:
      return "permission denied";
    case ErrorKind::kAddressInUse:
      return "address in use";
    case ErrorKind::kAlreadyExists:
      return "already exists";
    case ErrorKind::kOther:
      break;
  }
  return "i/o error";
}

namespace {

std::string errno_message(int e, const std::string& op) {
  std::string m = std::strerror(e);
  for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return op + ": " + m;
}

}  // namespace

Error::Error(int e, std::string operation)
    : tether::Error(errno_message(e, operation)),
      kind_(kind_of(e)),
      code_(e, std::generic_category()),
      operation_(std::move(operation)) {}

Error::Error(ErrorKind kind, std::string operation, std::string detail)
    : tether::Error(operation + ": " + to_string(kind) + (detail.empty() ? "" : " (" + detail + ")")),
      kind_(kind),
      operation_(std::move(operation)) {}

Error::Error(ErrorKind kind, int e, std::string operation, std::string message)
    : tether::Error(message), kind_(kind), operation_(std::move(operation)) {
  if (e != 0) code_ = std::error_code(e, std::generic_category());
}

}  // namespace tether::io
