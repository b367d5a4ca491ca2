// Runs native/freebsd_logic.cc's functions, and vmm_unsupported_freebsd.cc's OpenVmmDevice, on Linux for
// test/native/freebsd-logic.test.ts: one tab-separated command per input line, one answer line per command.
// What the kernel would answer is given in the command; the test checks the answers.
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "freebsd_logic.h"
#include "sampler.h"

namespace {

using vmmstats::ReadVcpuCounters;

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream stream(text);
  while (std::getline(stream, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

std::string Join(const std::vector<uint64_t>& values) {
  std::string text;
  for (size_t i = 0; i < values.size(); i++) text += (i == 0 ? "" : ",") + std::to_string(values[i]);
  return text;
}

// A value, or "!errno" for a failing call.
struct Answer {
  int error;
  std::vector<uint64_t> values;
};

Answer ParseAnswer(const std::string& text) {
  if (!text.empty() && text[0] == '!') return {std::stoi(text.substr(1)), {}};
  Answer answer{0, {}};
  for (const std::string& value : Split(text, ',')) {
    if (!value.empty()) answer.values.push_back(std::stoull(value));
  }
  return answer;
}

// boot <answer>...: kern.boottime answers, in the order they are read.
std::string SteadyBootTime(const std::vector<std::string>& args) {
  size_t reads = 0;
  int batches = 0;
  auto read_boot_time = [&](uint64_t* boot_time) {
    if (reads >= args.size()) return 99;  // read more often than the test foresaw
    const Answer answer = ParseAnswer(args[reads++]);
    if (answer.error == 0) *boot_time = answer.values.at(0);
    return answer.error;
  };
  uint64_t boot_time = 0;
  const int error = vmmstats::ReadAtSteadyBootTime(read_boot_time, [&] { batches++; }, &boot_time);
  return "rc=" + std::to_string(error) + " boot=" + std::to_string(boot_time) + " batches=" + std::to_string(batches);
}

// sum <answer per vCPU>...
std::string Sum(const std::vector<std::string>& args) {
  std::vector<Answer> answers;
  for (const std::string& arg : args) answers.push_back(ParseAnswer(arg));
  int reads = 0;
  ReadVcpuCounters read = [&](size_t i, const uint64_t** values, int* count) {
    reads++;
    const Answer& answer = answers.at(i);
    *values = answer.values.data();
    *count = static_cast<int>(answer.values.size());
    return answer.error;
  };
  std::vector<uint64_t> totals;
  const int error = vmmstats::SumOverVcpus(answers.size(), read, &totals);
  return "rc=" + std::to_string(error) + " totals=" + Join(totals) + " reads=" + std::to_string(reads);
}

std::string GuestVcpus(const std::vector<std::string>& args) {
  std::vector<int> vcpus;
  auto arg = [&](size_t i) { return static_cast<uint16_t>(std::stoul(args.at(i))); };
  const int error = vmmstats::GuestVcpus(arg(0), arg(1), arg(2), arg(3), &vcpus);
  return "rc=" + std::to_string(error) + " vcpus=" + Join(std::vector<uint64_t>(vcpus.begin(), vcpus.end()));
}

std::string OpenWithoutBhyve() {
  std::unique_ptr<vmmstats::VmmDevice> device;
  const int error = vmmstats::OpenVmmDevice({1, "", ""}, &device);
  return "rc=" + std::to_string(error) + " device=" + (device ? "yes" : "no");
}

std::string Run(const std::vector<std::string>& command) {
  const std::string& verb = command.at(0);
  const std::vector<std::string> args(command.begin() + 1, command.end());
  if (verb == "device-name") return vmmstats::VmmDeviceName(args.at(0), std::stoi(args.at(1)));
  if (verb == "check-name") return std::to_string(vmmstats::CheckVmmDeviceName(args.at(1), std::stoul(args.at(0))));
  if (verb == "gone") return std::to_string(vmmstats::VmGoneAsEnoent(std::stoi(args.at(0))));
  if (verb == "guest-vcpus") return GuestVcpus(args);
  if (verb == "sum") return Sum(args);
  if (verb == "boot") return SteadyBootTime(args);
  if (verb == "open-without-bhyve") return OpenWithoutBhyve();
  return "unknown command " + verb;
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) std::cout << Run(Split(line, '\t')) << '\n';
  return 0;
}
