/* The smallest VMM the sampler tests can watch: one VM with one page of guest memory and one vCPU in real
 * mode, running a loop that writes a byte to port 0x3f8 again and again. Every OUT is a KVM_EXIT_IO this
 * process answers, so KVM's exit counters of the VM keep rising while it runs.
 *   tiny-vmm           prints "ready" once the guest has made its first exits, then runs until killed
 * Exit status 2: no usable /dev/kvm; 1: anything else failed. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_ADDRESS 0x1000
#define GUEST_PORT 0x3f8
#define EXITS_BEFORE_READY 1000

static void fail(const char *what, int status) {
  fprintf(stderr, "tiny-vmm: %s: %s\n", what, strerror(errno));
  exit(status);
}

/* Real mode, loaded at GUEST_ADDRESS:
 *   mov dx, 0x3f8    ba f8 03
 * again:
 *   out dx, al       ee
 *   inc al           fe c0
 *   jmp again        eb fb      (back 5 bytes, from the end of the jmp to the out) */
static const uint8_t guest_code[] = {0xba, GUEST_PORT & 0xff, GUEST_PORT >> 8, 0xee, 0xfe, 0xc0, 0xeb, 0xfb};

int main(void) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) fail("open /dev/kvm", 2);
  if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) fail("KVM_GET_API_VERSION", 2);

  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) fail("KVM_CREATE_VM", 2);
  /* Intel VMX without unrestricted guest emulates real mode through a TSS somewhere in guest physical
   * space; three pages just under 4 GiB are out of the way (the address QEMU uses). AMD ignores it. */
  if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0) fail("KVM_SET_TSS_ADDR", 1);

  uint8_t *memory = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) fail("mmap guest memory", 1);
  memcpy(memory, guest_code, sizeof guest_code);
  struct kvm_userspace_memory_region region = {
      .slot = 0,
      .guest_phys_addr = GUEST_ADDRESS,
      .memory_size = 0x1000,
      .userspace_addr = (uint64_t)(uintptr_t)memory,
  };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) fail("KVM_SET_USER_MEMORY_REGION", 1);

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) fail("KVM_CREATE_VCPU", 1);
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run)) fail("KVM_GET_VCPU_MMAP_SIZE", 1);
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) fail("mmap kvm_run", 1);

  /* Code segment at 0, so that IP is the physical address. */
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) fail("KVM_GET_SREGS", 1);
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) fail("KVM_SET_SREGS", 1);
  struct kvm_regs regs = {.rip = GUEST_ADDRESS, .rflags = 0x2};
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) fail("KVM_SET_REGS", 1);

  for (unsigned long exits = 0;; exits++) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR) continue;
      fail("KVM_RUN", 1);
    }
    if (run->exit_reason != KVM_EXIT_IO || run->io.port != GUEST_PORT) {
      fprintf(stderr, "tiny-vmm: unexpected exit reason %u\n", run->exit_reason);
      return 1;
    }
    if (exits == EXITS_BEFORE_READY) {
      printf("ready\n");
      fflush(stdout);
    }
  }
}
