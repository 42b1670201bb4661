// tether/io/buffer.hpp
//
// Byte ranges the I/O calls read into and write from, built implicitly from what callers hold.
//
//   MutableBuffer   from std::string&, std::vector<char|std::byte|uint8_t>&, std::array, C arrays,
//                   spans, or (pointer, size)
//   ConstBuffer     the same, const, plus std::string_view and string literals
//
// Thread safety: plain views; the caller keeps the bytes alive until the operation completes.
#pragma once

#include <cstddef>
#include <ranges>
#include <string_view>
#include <type_traits>

namespace tether::io {

namespace detail {
template <class R>
concept ByteRange = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                        sizeof(std::ranges::range_value_t<R>) == 1 &&
                    std::is_trivial_v<std::ranges::range_value_t<R>>;
}  // namespace detail

struct MutableBuffer {
  MutableBuffer(void* d, std::size_t n) noexcept : data(d), size(n) {}
  template <detail::ByteRange R>
  requires(!std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>) MutableBuffer(R&& r)
  noexcept : data(std::ranges::data(r)), size(std::ranges::size(r)) {}

  void* data;
  std::size_t size;
};

struct ConstBuffer {
  ConstBuffer(const void* d, std::size_t n) noexcept : data(d), size(n) {}
  ConstBuffer(std::string_view s) noexcept : data(s.data()), size(s.size()) {}
  ConstBuffer(const char* s) noexcept : ConstBuffer(std::string_view(s)) {}
  ConstBuffer(MutableBuffer b) noexcept : data(b.data), size(b.size) {}
  template <detail::ByteRange R>
  ConstBuffer(R&& r) noexcept : data(std::ranges::data(r)), size(std::ranges::size(r)) {}

  const void* data;
  std::size_t size;
};

}  // namespace tether::io
