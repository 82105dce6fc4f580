// Name tables: the one list that maps the values of a choice enum (attention kernel, positions)
// to their names and back. Flags, checkpoint JSON, --help listings and error messages all read
// the same table, so what parses is exactly what is listed.
//
// An enum gets names by declaring its table next to it, found by argument-dependent lookup:
//   const NameTable<PositionKind>& name_table(PositionKind);
// Then name_of(value), parse_name(table, name, what) and fmt's "{}" (by name) work for it.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

namespace pf {

template <class E>
struct Named {
  E value;
  const char* name;
};

template <class E>
using NameTable = std::vector<Named<E>>;

// "a, b, c" (or with another separator, e.g. " | " for --help).
template <class E>
std::string joined_names(const NameTable<E>& table, const char* separator = ", ") {
  std::string out;
  for (const Named<E>& entry : table) out += (out.empty() ? "" : separator) + std::string(entry.name);
  return out;
}

// The name of `value` in its enum's table.
template <class E>
const char* name_of(E value) {
  for (const Named<E>& entry : name_table(value))
    if (entry.value == value) return entry.name;
  throw std::invalid_argument(fmt::format("name_of: value {} of an enum is not in its name table",
                                          static_cast<long long>(value)));
}

// The value named `name` in `table`; otherwise std::invalid_argument
// "<what> 'name' is unknown (valid: a, b, c)".
template <class E>
E parse_name(const NameTable<E>& table, const std::string& name, const std::string& what) {
  for (const Named<E>& entry : table)
    if (name == entry.name) return entry.value;
  throw std::invalid_argument(fmt::format("{} '{}' is unknown (valid: {})", what, name, joined_names(table)));
}

// Whether E has a name table (name_table(E) is declared).
template <class E, class = void>
struct has_name_table : std::false_type {};
template <class E>
struct has_name_table<E, std::void_t<decltype(name_table(E{}))>> : std::true_type {};

}  // namespace pf

// fmt::print("{}", kernel) prints the kernel's name.
template <class E>
struct fmt::formatter<E, char, std::enable_if_t<pf::has_name_table<E>::value>> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(E value, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(pf::name_of(value), ctx);
  }
};
