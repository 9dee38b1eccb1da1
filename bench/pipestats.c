// pipestats: the driver's own statistics (registers, shared and local
// memory, ...) of a compute shader, through VK_KHR_pipeline_executable_properties.
//
//   gcc -O2 -o bin/pipestats bench/pipestats.c -ldl
//   pipestats kernel.spv BINDINGS [kernel.spv BINDINGS ...]
//
// BINDINGS lists the shader's descriptor set 0 in binding order, one
// letter each: s for a storage buffer, u for a uniform buffer (WebFuser's
// kernels bind their buffers first, then the uniform struct p). The
// loader is opened with dlopen (LD_LIBRARY_PATH, VK_ICD_FILENAMES as for
// the native runtime). Prints, per kernel, a line "== kernel.spv" and
// one line per statistic: NAME<TAB>VALUE.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

static void die(const char *what, VkResult r) {
  fprintf(stderr, "pipestats: %s failed (VkResult %d)\n", what, r);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc % 2 != 1) {
    fprintf(stderr, "usage: pipestats kernel.spv BINDINGS [kernel.spv BINDINGS ...]\n");
    return 2;
  }
  void *lib = dlopen("libvulkan.so.1", RTLD_NOW);
  if (!lib) {
    fprintf(stderr, "pipestats: %s\n", dlerror());
    return 1;
  }
  PFN_vkGetInstanceProcAddr gipa = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
#define IFN(name) PFN_##name name = (PFN_##name)gipa(inst, #name)
  VkInstance inst = VK_NULL_HANDLE;
  IFN(vkCreateInstance);
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_3};
  VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
  VkResult r = vkCreateInstance(&ici, NULL, &inst);
  if (r) die("vkCreateInstance", r);
  IFN(vkEnumeratePhysicalDevices);
  IFN(vkGetPhysicalDeviceQueueFamilyProperties);
  IFN(vkCreateDevice);
  IFN(vkGetDeviceProcAddr);
  uint32_t count = 1;
  VkPhysicalDevice phys;
  r = vkEnumeratePhysicalDevices(inst, &count, &phys);
  if (r < 0 || count == 0) die("vkEnumeratePhysicalDevices", r);
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, NULL);
  VkQueueFamilyProperties qp[16];
  if (nq > 16) nq = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, qp);
  uint32_t qf = 0;
  while (qf < nq && !(qp[qf].queueFlags & VK_QUEUE_COMPUTE_BIT)) qf++;
  float prio = 1;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = qf, .queueCount = 1, .pQueuePriorities = &prio};
  // Kernels may use f16, 16-bit storage and subgroups: ask for what the
  // device offers through Vulkan 1.1-1.3 feature structs.
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR pe = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR, .pipelineExecutableInfo = VK_TRUE};
  VkPhysicalDeviceVulkan12Features v12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .pNext = &pe, .shaderFloat16 = VK_TRUE};
  VkPhysicalDeviceVulkan11Features v11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &v12, .storageBuffer16BitAccess = VK_TRUE};
  const char *ext[] = {"VK_KHR_pipeline_executable_properties"};
  VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &v11, .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci, .enabledExtensionCount = 1, .ppEnabledExtensionNames = ext};
  VkDevice dev;
  r = vkCreateDevice(phys, &dci, NULL, &dev);
  if (r == VK_ERROR_EXTENSION_NOT_PRESENT) {
    fprintf(stderr, "pipestats: the driver lacks VK_KHR_pipeline_executable_properties\n");
    return 1;
  }
  if (r) die("vkCreateDevice", r);
#define DFN(name) PFN_##name name = (PFN_##name)vkGetDeviceProcAddr(dev, #name)
  DFN(vkCreateShaderModule);
  DFN(vkCreateDescriptorSetLayout);
  DFN(vkCreatePipelineLayout);
  DFN(vkCreateComputePipelines);
  DFN(vkGetPipelineExecutablePropertiesKHR);
  DFN(vkGetPipelineExecutableStatisticsKHR);
  for (int arg = 1; arg + 1 < argc; arg += 2) {
    printf("== %s\n", argv[arg]);
    FILE *f = fopen(argv[arg], "rb");
    if (!f) {
      perror(argv[arg]);
      exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint32_t *code = malloc(n);
    if (fread(code, 1, n, f) != (size_t)n) {
      perror("read");
      exit(1);
    }
    fclose(f);
    VkShaderModuleCreateInfo smci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = n, .pCode = code};
    VkShaderModule mod;
    r = vkCreateShaderModule(dev, &smci, NULL, &mod);
    if (r) {
      printf("error\tvkCreateShaderModule %d\n", r);
      continue;
    }
    int nb = strlen(argv[arg + 1]);
    if (nb > 64) nb = 64;
    VkDescriptorSetLayoutBinding b[64];
    for (int i = 0; i < nb; i++) {
      b[i] = (VkDescriptorSetLayoutBinding){.binding = i, .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                                            .descriptorType = argv[arg + 1][i] == 'u' ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
    }
    VkDescriptorSetLayoutCreateInfo dsl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = nb, .pBindings = b};
    VkDescriptorSetLayout set;
    r = vkCreateDescriptorSetLayout(dev, &dsl, NULL, &set);
    if (r) die("vkCreateDescriptorSetLayout", r);
    VkPipelineLayoutCreateInfo plci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1, .pSetLayouts = &set};
    VkPipelineLayout layout;
    r = vkCreatePipelineLayout(dev, &plci, NULL, &layout);
    if (r) die("vkCreatePipelineLayout", r);
    VkComputePipelineCreateInfo cpci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                        .flags = VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR,
                                        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = mod, .pName = "main"},
                                        .layout = layout};
    VkPipeline pipe;
    r = vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &cpci, NULL, &pipe);
    if (r) {
      printf("error\tvkCreateComputePipelines %d\n", r);
      continue;
    }

    VkPipelineInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, .pipeline = pipe};
    uint32_t ne = 0;
    vkGetPipelineExecutablePropertiesKHR(dev, &pi, &ne, NULL);
    VkPipelineExecutablePropertiesKHR props[8];
    if (ne > 8) ne = 8;
    for (uint32_t i = 0; i < ne; i++) props[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR, props[i].pNext = NULL;
    vkGetPipelineExecutablePropertiesKHR(dev, &pi, &ne, props);
    for (uint32_t e = 0; e < ne; e++) {
      VkPipelineExecutableInfoKHR ei = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR, .pipeline = pipe, .executableIndex = e};
      uint32_t ns = 0;
      vkGetPipelineExecutableStatisticsKHR(dev, &ei, &ns, NULL);
      VkPipelineExecutableStatisticKHR st[64];
      if (ns > 64) ns = 64;
      for (uint32_t i = 0; i < ns; i++) st[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR, st[i].pNext = NULL;
      vkGetPipelineExecutableStatisticsKHR(dev, &ei, &ns, st);
      for (uint32_t i = 0; i < ns; i++) {
        printf("%s\t", st[i].name);
        switch (st[i].format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: printf("%u\n", st[i].value.b32); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: printf("%lld\n", (long long)st[i].value.i64); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: printf("%llu\n", (unsigned long long)st[i].value.u64); break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: printf("%g\n", st[i].value.f64); break;
        default: printf("?\n");
        }
      }
    }
    fflush(stdout);
  }
  return 0;
}
