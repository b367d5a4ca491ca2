// N-API glue between src/sampler/sampler.ts and the platform readers behind sampler.h. Operating-system errors come
// back as errno numbers (the TypeScript side names them); only misuse of these functions throws.
// Results go into typed arrays the caller allocated once, one row of u64 per pid or interface. A tick's reads
// run together off the JavaScript thread (sampleInBackground); the single calls stay for the rest.
#include <napi.h>
#include <net/if.h>

#include <cerrno>
#include <cstddef>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "acceptor.h"
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

// A call whose work runs on a thread of libuv's pool, so that the JavaScript thread goes on answering
// meanwhile, and whose promise resolves with a number (0 or an errno). Its arguments (typed arrays, wrapped
// objects) are held until then; the caller must not read the arrays it handed in before it resolves.
class BackgroundCall : public Napi::AsyncWorker {
 public:
  // Queues the call and returns its promise; the worker deletes itself once it has resolved.
  static Napi::Value Start(BackgroundCall* call) {
    Napi::Promise promise = call->deferred_.Promise();
    call->Queue();
    return promise;
  }

 protected:
  explicit BackgroundCall(const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(info.Env(), "vmm-stats:sample"), deferred_(Napi::Promise::Deferred::New(info.Env())) {
    Hold(info.This());
    for (size_t i = 0; i < info.Length(); i++) Hold(info[i]);
  }

  // Only objects can be referenced; the other arguments were copied already.
  void Hold(Napi::Value value) {
    if (value.IsObject()) held_.push_back(Napi::Persistent(value));
  }

  // Called on the JavaScript thread once the work is done, before the promise settles.
  virtual void Done() {}

  int result_ = 0;

 private:
  void OnOK() override {
    Done();
    deferred_.Resolve(Napi::Number::New(Env(), result_));
  }

  void OnError(const Napi::Error& error) override {
    Done();
    deferred_.Reject(error.Value());
  }

  Napi::Promise::Deferred deferred_;
  std::vector<Napi::Reference<Napi::Value>> held_;
};

// The arguments (pids: Int32Array, count: number, out: BigUint64Array, errors: Int32Array), checked.
struct ProcessRows {
  const pid_t* pids;
  size_t count;
  ProcessUsage* out;
  int* errors;

  static ProcessRows Of(const Napi::CallbackInfo& info) {
    auto pids = TypedArgument<Napi::Int32Array>(info, 0, napi_int32_array, "an Int32Array");
    const size_t count = info[1].As<Napi::Number>().Uint32Value();
    if (pids.ElementLength() < count) ThrowType(info.Env(), "pid array too short");
    auto out = RowsArgument(info, 2, count, vmmstats::kProcessUsageFields);
    auto errors = ErrorsArgument(info, 3, count);
    static_assert(sizeof(pid_t) == sizeof(int32_t));
    return {reinterpret_cast<const pid_t*>(pids.Data()), count, reinterpret_cast<ProcessUsage*>(out.Data()),
            errors.Data()};
  }

};

// sampleProcesses(pids: Int32Array, count: number, out: BigUint64Array, errors: Int32Array): void; a one-off
// question, which keeps nothing open
void SampleProcesses(const Napi::CallbackInfo& info) {
  const ProcessRows rows = ProcessRows::Of(info);
  vmmstats::SampleProcessesOnce(rows.pids, rows.count, rows.out, rows.errors);
}

class ProcessesInBackground : public BackgroundCall {
 public:
  explicit ProcessesInBackground(const Napi::CallbackInfo& info) : BackgroundCall(info), rows_(ProcessRows::Of(info)) {}

 private:
  void Execute() override { vmmstats::SampleProcesses(rows_.pids, rows_.count, rows_.out, rows_.errors); }

  ProcessRows rows_;
};

// sampleProcessesInBackground(pids, count, out, errors): Promise<0>, as sampleProcesses, but for the ticks:
// what makes the next tick cheaper is kept
Napi::Value SampleProcessesInBackground(const Napi::CallbackInfo& info) {
  return BackgroundCall::Start(new ProcessesInBackground(info));
}

// processStartTimes(pids: Int32Array, count: number, out: BigUint64Array, errors: Int32Array): void; out[i]
// as a process row's start_time
void ProcessStartTimes(const Napi::CallbackInfo& info) {
  auto pids = TypedArgument<Napi::Int32Array>(info, 0, napi_int32_array, "an Int32Array");
  const size_t count = info[1].As<Napi::Number>().Uint32Value();
  if (pids.ElementLength() < count) ThrowType(info.Env(), "pid array too short");
  auto out = RowsArgument(info, 2, count, 1);
  auto errors = ErrorsArgument(info, 3, count);
  vmmstats::ProcessStartTimes(reinterpret_cast<const pid_t*>(pids.Data()), count, out.Data(), errors.Data());
}

// sampleProcess(pid: number, out: BigUint64Array): number (0 or an errno)
Napi::Value SampleProcess(const Napi::CallbackInfo& info) {
  const pid_t pid = info[0].As<Napi::Number>().Int32Value();
  auto out = RowsArgument(info, 1, 1, vmmstats::kProcessUsageFields);
  return Napi::Number::New(info.Env(), vmmstats::SampleProcess(pid, reinterpret_cast<ProcessUsage*>(out.Data())));
}

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

// interfacesExist(names: string, count: number, out: Int32Array): void; out[i] is 1 when an interface of
// that name exists now, else 0. if_nametoindex is one ioctl: far cheaper than reading the interface.
void InterfacesExist(const Napi::CallbackInfo& info) {
  const std::string joined = info[0].As<Napi::String>().Utf8Value();
  const size_t count = info[1].As<Napi::Number>().Uint32Value();
  auto out = ErrorsArgument(info, 2, count);
  const std::vector<std::string> names = SplitNames(joined, count);
  for (size_t i = 0; i < count; i++) out[i] = !names[i].empty() && if_nametoindex(names[i].c_str()) != 0 ? 1 : 0;
}

// Marks an object that a background sampling pass is using: a call from JavaScript meanwhile is refused
// rather than racing the pass's thread. Set and cleared on the JavaScript thread only.
struct BackgroundUse {
  bool held = false;
  void Check(Napi::Env env) const {
    if (held) throw Napi::Error::New(env, "busy: a background sampling pass is using it");
  }
};

// The arguments (names: string, count: number, out: BigUint64Array, errors: Int32Array), checked. Interface
// names arrive as one string joined by '\n', which no interface name may contain: one string crosses into
// C++ instead of one per interface; it is split where the reading happens.
struct InterfaceRows {
  std::string joined;
  size_t count;
  InterfaceCounters* out;
  int* errors;

  static InterfaceRows Of(const Napi::CallbackInfo& info) {
    const size_t count = info[1].As<Napi::Number>().Uint32Value();
    auto out = RowsArgument(info, 2, count, vmmstats::kInterfaceFields);
    auto errors = ErrorsArgument(info, 3, count);
    return {info[0].As<Napi::String>().Utf8Value(), count, reinterpret_cast<InterfaceCounters*>(out.Data()),
            errors.Data()};
  }

  int SampleWith(vmmstats::InterfaceSampler& sampler) const { return sampler.Sample(SplitNames(joined, count), out, errors); }
};

class InterfaceSampler : public Napi::ObjectWrap<InterfaceSampler> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "InterfaceSampler",
                       {InstanceMethod<&InterfaceSampler::Open>("open"),
                        InstanceMethod<&InterfaceSampler::Sample>("sample"),
                        InstanceMethod<&InterfaceSampler::SampleInBackground>("sampleInBackground"),
                        InstanceMethod<&InterfaceSampler::Close>("close")});
  }

  explicit InterfaceSampler(const Napi::CallbackInfo& info) : Napi::ObjectWrap<InterfaceSampler>(info) {}

 private:
  class InBackground : public BackgroundCall {
   public:
    InBackground(const Napi::CallbackInfo& info, InterfaceSampler* owner)
        : BackgroundCall(info), owner_(owner), rows_(InterfaceRows::Of(info)) {
      owner_->busy_.held = true;
    }

   private:
    void Execute() override { result_ = rows_.SampleWith(*owner_->sampler_); }
    void Done() override { owner_->busy_.held = false; }

    InterfaceSampler* owner_;
    InterfaceRows rows_;
  };

  vmmstats::InterfaceSampler& Opened(Napi::Env env) {
    busy_.Check(env);
    if (!sampler_) ThrowType(env, "interface sampler is not open");
    return *sampler_;
  }

  // open(): number (0 or an errno)
  Napi::Value Open(const Napi::CallbackInfo& info) {
    busy_.Check(info.Env());
    return Napi::Number::New(info.Env(), vmmstats::CreateInterfaceSampler(&sampler_));
  }

  // sample(names: string, count: number, out: BigUint64Array, errors: Int32Array): number (0 or an errno)
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    vmmstats::InterfaceSampler& sampler = Opened(info.Env());
    return Napi::Number::New(info.Env(), InterfaceRows::Of(info).SampleWith(sampler));
  }

  // sampleInBackground(names, count, out, errors): Promise<number>, as sample; the sampler is busy until then
  Napi::Value SampleInBackground(const Napi::CallbackInfo& info) {
    Opened(info.Env());
    return BackgroundCall::Start(new InBackground(info, this));
  }

  void Close(const Napi::CallbackInfo& info) {
    busy_.Check(info.Env());
    sampler_.reset();
  }

  std::unique_ptr<vmmstats::InterfaceSampler> sampler_;
  BackgroundUse busy_;
};

class VmmDevice : public Napi::ObjectWrap<VmmDevice> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VmmDevice",
                       {InstanceMethod<&VmmDevice::Open>("open"), InstanceMethod<&VmmDevice::Read>("read"),
                        InstanceMethod<&VmmDevice::OpenLater>("openLater"),
                        InstanceMethod<&VmmDevice::Counters>("counters"),
                        InstanceMethod<&VmmDevice::Close>("close"),
                        StaticMethod<&VmmDevice::ReadInBackground>("readInBackground")});
  }

  explicit VmmDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VmmDevice>(info) {}

 private:
  // Reads many devices one after the other on one thread: libvmmapi before 2.0 (FreeBSD 13) returns the
  // counters in a static buffer, so no two reads may run at once.
  class ReadAll : public BackgroundCall {
   public:
    ReadAll(const Napi::CallbackInfo& info, std::vector<VmmDevice*> devices, int* outcomes)
        : BackgroundCall(info), devices_(std::move(devices)), outcomes_(outcomes) {
      for (VmmDevice* device : devices_) device->busy_.held = true;
    }

   private:
    void Execute() override {
      for (size_t i = 0; i < devices_.size(); i++) outcomes_[i] = devices_[i]->OpenAndRead();
    }
    // A device listed twice is read twice, and unmarked twice: harmless.
    void Done() override {
      for (VmmDevice* device : devices_) device->busy_.held = false;
    }

    std::vector<VmmDevice*> devices_;
    int* outcomes_;
  };

  // VmmDevice.readInBackground(devices: VmmDevice[], outcomes: Int32Array): Promise<0>; outcomes[i] is what
  // OpenAndRead gave for devices[i]. The devices are busy until it resolves.
  static Napi::Value ReadInBackground(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray()) ThrowType(env, "argument 0 must be an array of VmmDevice");
    Napi::Array list = info[0].As<Napi::Array>();
    auto outcomes = ErrorsArgument(info, 1, list.Length());
    Napi::Function constructor = env.GetInstanceData<Napi::FunctionReference>()->Value();
    std::vector<VmmDevice*> devices;
    devices.reserve(list.Length());
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value value = list.Get(i);
      if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor)) ThrowType(env, "argument 0 must be an array of VmmDevice");
      devices.push_back(Unwrap(value.As<Napi::Object>()));
      devices.back()->busy_.Check(env);
    }
    return BackgroundCall::Start(new ReadAll(info, std::move(devices), outcomes.Data()));
  }

  // On the pass's thread: opens the device first when openLater asked for it, then reads it. 0 when read
  // (counters() has the numbers), a positive errno when the read failed (the device is closed then), a
  // negative one when the open failed, -EBADF when the device is neither open nor to be opened.
  int OpenAndRead() {
    if (pending_target_) {
      const int error = vmmstats::OpenVmmDevice(*pending_target_, &device_);
      pending_target_.reset();
      if (error != 0) return -error;
    }
    if (!device_) return -EBADF;
    if (int error = device_->Read(&counters_)) {
      device_.reset();
      return error;
    }
    return 0;
  }

  static vmmstats::VmmTarget TargetArguments(const Napi::CallbackInfo& info) {
    return {info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::String>().Utf8Value(),
            info[2].As<Napi::String>().Utf8Value()};
  }

  // open(pid: number, deviceName: string, debugfsRoot: string): number (0 or an errno)
  Napi::Value Open(const Napi::CallbackInfo& info) {
    busy_.Check(info.Env());
    return Napi::Number::New(info.Env(), vmmstats::OpenVmmDevice(TargetArguments(info), &device_));
  }

  // openLater(pid: number, deviceName: string, debugfsRoot: string): void; the next pass opens it.
  void OpenLater(const Napi::CallbackInfo& info) {
    busy_.Check(info.Env());
    pending_target_ = std::make_unique<vmmstats::VmmTarget>(TargetArguments(info));
  }

  // read(): Array<[string, bigint]>, or a number (an errno)
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    busy_.Check(env);
    if (!device_) ThrowType(env, "vmm device is not open");
    if (int error = device_->Read(&counters_)) return Napi::Number::New(env, error);
    return CountersValue(env);
  }

  // counters(): Array<[string, bigint]>, what the last pass read
  Napi::Value Counters(const Napi::CallbackInfo& info) {
    busy_.Check(info.Env());
    return CountersValue(info.Env());
  }

  Napi::Value CountersValue(Napi::Env env) const {
    Napi::Array result = Napi::Array::New(env, counters_.size());
    for (size_t i = 0; i < counters_.size(); i++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, Napi::String::New(env, counters_[i].first));
      pair.Set(1u, Napi::BigInt::New(env, counters_[i].second));
      result.Set(static_cast<uint32_t>(i), pair);
    }
    return result;
  }

  void Close(const Napi::CallbackInfo& info) {
    busy_.Check(info.Env());
    device_.reset();
    pending_target_.reset();
  }

  std::unique_ptr<vmmstats::VmmDevice> device_;
  std::unique_ptr<vmmstats::VmmTarget> pending_target_;
  vmmstats::VmmCounterList counters_;
  BackgroundUse busy_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("processFields", Napi::Number::New(env, vmmstats::kProcessUsageFields));
  exports.Set("interfaceFields", Napi::Number::New(env, vmmstats::kInterfaceFields));
  exports.Set("processFieldNames", NamesOf(env, kProcessUsageNames));
  exports.Set("interfaceFieldNames", NamesOf(env, kInterfaceCounterNames));
  exports.Set("sampleProcesses", Napi::Function::New<SampleProcesses>(env, "sampleProcesses"));
  exports.Set("sampleProcess", Napi::Function::New<SampleProcess>(env, "sampleProcess"));
  exports.Set("processStartTimes", Napi::Function::New<ProcessStartTimes>(env, "processStartTimes"));
  exports.Set("interfacesExist", Napi::Function::New<InterfacesExist>(env, "interfacesExist"));
  exports.Set("sampleProcessesInBackground",
              Napi::Function::New<SampleProcessesInBackground>(env, "sampleProcessesInBackground"));
  exports.Set("InterfaceSampler", InterfaceSampler::Define(env));
  // Kept to tell our devices from other objects handed to VmmDevice.readInBackground.
  Napi::Function vmm_device = VmmDevice::Define(env);
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(vmm_device)));
  exports.Set("VmmDevice", vmm_device);
  vmmstats::RegisterHost(env, exports);
  vmmstats::RegisterAcceptor(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(vmm_stats, Init)
