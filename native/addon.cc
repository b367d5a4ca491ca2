// N-API glue between src/sampler/sampler.ts and the platform readers behind sampler.h. Operating-system errors come
// back as errno numbers (the TypeScript side names them); only misuse of these functions throws.
// Results go into typed arrays the caller allocated once, one row of u64 per pid or interface.
#include <napi.h>

#include <cstddef>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "host_addon.h"
#include "sampler.h"

namespace {

using vmmstats::InterfaceCounters;
using vmmstats::ProcessUsage;

// Rows are written straight into the caller's BigUint64Array.
static_assert(std::is_standard_layout_v<ProcessUsage> &&
              sizeof(ProcessUsage) == vmmstats::kProcessUsageFields * sizeof(uint64_t));
static_assert(std::is_standard_layout_v<InterfaceCounters> &&
              sizeof(InterfaceCounters) == vmmstats::kInterfaceFields * sizeof(uint64_t));

// The rows' field names, exported for src/sampler/sampler.ts to check against src/wire/layouts.ts at load.
// Each name is tied to its struct member by offsetof, and the static_asserts below fail the build when a
// list misses a member or has them out of order.
struct FieldName {
  const char* name;
  size_t offset;
};
#define VMMSTATS_FIELD(Struct, member) FieldName{#member, offsetof(Struct, member)}

constexpr FieldName kProcessUsageNames[] = {
    VMMSTATS_FIELD(ProcessUsage, utime_sec),  VMMSTATS_FIELD(ProcessUsage, utime_usec),
    VMMSTATS_FIELD(ProcessUsage, stime_sec),  VMMSTATS_FIELD(ProcessUsage, stime_usec),
    VMMSTATS_FIELD(ProcessUsage, maxrss),     VMMSTATS_FIELD(ProcessUsage, ixrss),
    VMMSTATS_FIELD(ProcessUsage, idrss),      VMMSTATS_FIELD(ProcessUsage, isrss),
    VMMSTATS_FIELD(ProcessUsage, minflt),     VMMSTATS_FIELD(ProcessUsage, majflt),
    VMMSTATS_FIELD(ProcessUsage, nswap),      VMMSTATS_FIELD(ProcessUsage, inblock),
    VMMSTATS_FIELD(ProcessUsage, outblock),   VMMSTATS_FIELD(ProcessUsage, msgsnd),
    VMMSTATS_FIELD(ProcessUsage, msgrcv),     VMMSTATS_FIELD(ProcessUsage, nsignals),
    VMMSTATS_FIELD(ProcessUsage, nvcsw),      VMMSTATS_FIELD(ProcessUsage, nivcsw),
    VMMSTATS_FIELD(ProcessUsage, start_time),
};

constexpr FieldName kInterfaceCounterNames[] = {
    VMMSTATS_FIELD(InterfaceCounters, flags),          VMMSTATS_FIELD(InterfaceCounters, send_length),
    VMMSTATS_FIELD(InterfaceCounters, max_send_length), VMMSTATS_FIELD(InterfaceCounters, send_drops),
    VMMSTATS_FIELD(InterfaceCounters, mtu),            VMMSTATS_FIELD(InterfaceCounters, baudrate),
    VMMSTATS_FIELD(InterfaceCounters, input_packets),  VMMSTATS_FIELD(InterfaceCounters, input_errors),
    VMMSTATS_FIELD(InterfaceCounters, output_packets), VMMSTATS_FIELD(InterfaceCounters, output_errors),
    VMMSTATS_FIELD(InterfaceCounters, collisions),     VMMSTATS_FIELD(InterfaceCounters, input_bytes),
    VMMSTATS_FIELD(InterfaceCounters, output_bytes),   VMMSTATS_FIELD(InterfaceCounters, input_mcast),
    VMMSTATS_FIELD(InterfaceCounters, output_mcast),   VMMSTATS_FIELD(InterfaceCounters, input_dropped),
    VMMSTATS_FIELD(InterfaceCounters, output_dropped),
};
#undef VMMSTATS_FIELD

// Whether field i of the list is the row's u64 number i, for every i.
template <size_t N>
constexpr bool InRowOrder(const FieldName (&fields)[N]) {
  for (size_t i = 0; i < N; i++) {
    if (fields[i].offset != i * sizeof(uint64_t)) return false;
  }
  return true;
}
static_assert(std::size(kProcessUsageNames) == vmmstats::kProcessUsageFields && InRowOrder(kProcessUsageNames));
static_assert(std::size(kInterfaceCounterNames) == vmmstats::kInterfaceFields && InRowOrder(kInterfaceCounterNames));

template <size_t N>
Napi::Array NamesOf(Napi::Env env, const FieldName (&fields)[N]) {
  Napi::Array names = Napi::Array::New(env, N);
  for (size_t i = 0; i < N; i++) names.Set(static_cast<uint32_t>(i), Napi::String::New(env, fields[i].name));
  return names;
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

template <typename Array>
Array TypedArgument(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type type, const char* what) {
  Napi::Value value = info[index];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    ThrowType(info.Env(), std::string("argument ") + std::to_string(index) + " must be " + what);
  }
  return value.As<Array>();
}

Napi::BigUint64Array RowsArgument(const Napi::CallbackInfo& info, size_t index, size_t rows, size_t fields) {
  auto array = TypedArgument<Napi::BigUint64Array>(info, index, napi_biguint64_array, "a BigUint64Array");
  if (array.ElementLength() < rows * fields) ThrowType(info.Env(), "result array too short");
  return array;
}

Napi::Int32Array ErrorsArgument(const Napi::CallbackInfo& info, size_t index, size_t rows) {
  auto errors = TypedArgument<Napi::Int32Array>(info, index, napi_int32_array, "an Int32Array");
  if (errors.ElementLength() < rows) ThrowType(info.Env(), "error array too short");
  return errors;
}

// sampleProcesses(pids: Int32Array, count: number, out: BigUint64Array, errors: Int32Array): void
void SampleProcesses(const Napi::CallbackInfo& info) {
  auto pids = TypedArgument<Napi::Int32Array>(info, 0, napi_int32_array, "an Int32Array");
  const size_t count = info[1].As<Napi::Number>().Uint32Value();
  if (pids.ElementLength() < count) ThrowType(info.Env(), "pid array too short");
  auto out = RowsArgument(info, 2, count, vmmstats::kProcessUsageFields);
  auto errors = ErrorsArgument(info, 3, count);
  static_assert(sizeof(pid_t) == sizeof(int32_t));
  vmmstats::SampleProcesses(reinterpret_cast<const pid_t*>(pids.Data()), count,
                            reinterpret_cast<ProcessUsage*>(out.Data()), errors.Data());
}

// sampleProcess(pid: number, out: BigUint64Array): number (0 or an errno)
Napi::Value SampleProcess(const Napi::CallbackInfo& info) {
  const pid_t pid = info[0].As<Napi::Number>().Int32Value();
  auto out = RowsArgument(info, 1, 1, vmmstats::kProcessUsageFields);
  return Napi::Number::New(info.Env(), vmmstats::SampleProcess(pid, reinterpret_cast<ProcessUsage*>(out.Data())));
}

// Interface names arrive as one string joined by '\n', which no interface name may contain: one string
// crosses into C++ instead of one per interface.
std::vector<std::string> SplitNames(const std::string& joined, size_t count) {
  std::vector<std::string> names;
  names.reserve(count);
  size_t start = 0;
  while (names.size() < count) {
    size_t end = joined.find('\n', start);
    if (end == std::string::npos) end = joined.size();
    names.emplace_back(joined, start, end - start);
    start = end + 1;
  }
  return names;
}

class InterfaceSampler : public Napi::ObjectWrap<InterfaceSampler> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "InterfaceSampler",
                       {InstanceMethod<&InterfaceSampler::Open>("open"),
                        InstanceMethod<&InterfaceSampler::Sample>("sample"),
                        InstanceMethod<&InterfaceSampler::Close>("close")});
  }

  explicit InterfaceSampler(const Napi::CallbackInfo& info) : Napi::ObjectWrap<InterfaceSampler>(info) {}

 private:
  // open(): number (0 or an errno)
  Napi::Value Open(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vmmstats::CreateInterfaceSampler(&sampler_));
  }

  // sample(names: string, count: number, out: BigUint64Array, errors: Int32Array): number (0 or an errno)
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    if (!sampler_) ThrowType(info.Env(), "interface sampler is not open");
    const std::string joined = info[0].As<Napi::String>().Utf8Value();
    const size_t count = info[1].As<Napi::Number>().Uint32Value();
    auto out = RowsArgument(info, 2, count, vmmstats::kInterfaceFields);
    auto errors = ErrorsArgument(info, 3, count);
    const std::vector<std::string> names = SplitNames(joined, count);
    int error = sampler_->Sample(names, reinterpret_cast<InterfaceCounters*>(out.Data()), errors.Data());
    return Napi::Number::New(info.Env(), error);
  }

  void Close(const Napi::CallbackInfo&) { sampler_.reset(); }

  std::unique_ptr<vmmstats::InterfaceSampler> sampler_;
};

class VmmDevice : public Napi::ObjectWrap<VmmDevice> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VmmDevice",
                       {InstanceMethod<&VmmDevice::Open>("open"), InstanceMethod<&VmmDevice::Read>("read"),
                        InstanceMethod<&VmmDevice::Close>("close")});
  }

  explicit VmmDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VmmDevice>(info) {}

 private:
  // open(pid: number, deviceName: string, debugfsRoot: string): number (0 or an errno)
  Napi::Value Open(const Napi::CallbackInfo& info) {
    vmmstats::VmmTarget target{info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::String>().Utf8Value(),
                               info[2].As<Napi::String>().Utf8Value()};
    return Napi::Number::New(info.Env(), vmmstats::OpenVmmDevice(target, &device_));
  }

  // read(): Array<[string, bigint]>, or a number (an errno)
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!device_) ThrowType(env, "vmm device is not open");
    if (int error = device_->Read(&counters_)) return Napi::Number::New(env, error);
    Napi::Array result = Napi::Array::New(env, counters_.size());
    for (size_t i = 0; i < counters_.size(); i++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, Napi::String::New(env, counters_[i].first));
      pair.Set(1u, Napi::BigInt::New(env, counters_[i].second));
      result.Set(static_cast<uint32_t>(i), pair);
    }
    return result;
  }

  void Close(const Napi::CallbackInfo&) { device_.reset(); }

  std::unique_ptr<vmmstats::VmmDevice> device_;
  vmmstats::VmmCounterList counters_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("processFields", Napi::Number::New(env, vmmstats::kProcessUsageFields));
  exports.Set("interfaceFields", Napi::Number::New(env, vmmstats::kInterfaceFields));
  exports.Set("processFieldNames", NamesOf(env, kProcessUsageNames));
  exports.Set("interfaceFieldNames", NamesOf(env, kInterfaceCounterNames));
  exports.Set("sampleProcesses", Napi::Function::New<SampleProcesses>(env, "sampleProcesses"));
  exports.Set("sampleProcess", Napi::Function::New<SampleProcess>(env, "sampleProcess"));
  exports.Set("InterfaceSampler", InterfaceSampler::Define(env));
  exports.Set("VmmDevice", VmmDevice::Define(env));
  vmmstats::RegisterHost(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(vmm_stats, Init)
