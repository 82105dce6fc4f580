// A structural check of SVG text written by the tests' subjects (no XML library needed).
#pragma once

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace pf::test {

// Every '<' opens a tag that closes with '>'; every non-self-closing element is closed in order.
inline void require_well_formed_svg(const std::string& svg) {
  std::vector<std::string> open;
  std::size_t at = 0;
  while ((at = svg.find('<', at)) != std::string::npos) {
    const std::size_t end = svg.find('>', at);
    REQUIRE(end != std::string::npos);
    const std::string tag = svg.substr(at + 1, end - at - 1);
    REQUIRE(tag.find('<') == std::string::npos);
    if (tag[0] == '?') {
    } else if (tag[0] == '/') {
      REQUIRE(!open.empty());
      REQUIRE(tag.substr(1) == open.back());
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    at = end + 1;
  }
  REQUIRE(open.empty());
}

}  // namespace pf::test
