// The subset of Go's text/tabwriter the CLI's tables use (minwidth 0, padding 2, spaces, no
// flags): every tab-terminated cell is padded to its column's widest cell plus the padding.
#pragma once

#include <string>
#include <vector>

namespace tnet::cli {

class TabWriter {
 public:
  explicit TabWriter(size_t padding = 2) : padding_(padding) {}
  // One line: the tab-terminated cells, then text after the last tab (not aligned).
  void line(std::vector<std::string> cells, std::string tail = {});
  std::string str() const;

 private:
  struct Line {
    std::vector<std::string> cells;
    std::string tail;
  };
  size_t padding_;
  std::vector<Line> lines_;
};

// Display width as tabwriter counts it: UTF-8 code points.
size_t displayWidth(const std::string& s);

}  // namespace tnet::cli
