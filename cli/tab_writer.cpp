#include "cli/tab_writer.h"

#include <algorithm>

namespace tnet::cli {

size_t displayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

void TabWriter::line(std::vector<std::string> cells, std::string tail) {
  lines_.push_back({std::move(cells), std::move(tail)});
}

std::string TabWriter::str() const {
  // Go aligns a column across each run of consecutive lines that have it.
  size_t maxCols = 0;
  for (const Line& l : lines_) maxCols = std::max(maxCols, l.cells.size());
  std::vector<std::vector<size_t>> width(lines_.size());
  for (size_t i = 0; i < lines_.size(); ++i) width[i].resize(lines_[i].cells.size());
  for (size_t c = 0; c < maxCols; ++c) {
    size_t i = 0;
    while (i < lines_.size()) {
      if (lines_[i].cells.size() <= c) {
        ++i;
        continue;
      }
      size_t end = i;
      size_t w = 0;
      while (end < lines_.size() && lines_[end].cells.size() > c) {
        w = std::max(w, displayWidth(lines_[end].cells[c]));
        ++end;
      }
      for (size_t k = i; k < end; ++k) width[k][c] = w + padding_;
      i = end;
    }
  }
  std::string out;
  for (size_t i = 0; i < lines_.size(); ++i) {
    const Line& l = lines_[i];
    for (size_t c = 0; c < l.cells.size(); ++c) {
      out += l.cells[c];
      out.append(width[i][c] - displayWidth(l.cells[c]), ' ');
    }
    out += l.tail;
    out += '\n';
  }
  return out;
}

}  // namespace tnet::cli
