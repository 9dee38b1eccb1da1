// vkcoop: the i8 cooperative-matrix multiply of the node reproducer, through raw
// Vulkan, to tell a driver fault from a Dawn one (issue 13).
//   vkcoop props                                  list devices and cooperative-matrix properties
//   vkcoop run SHADER.spv khr|nv|plain N D ROUNDS DISPATCHES
// (plain: the control shader, no cooperative-matrix extension enabled)
// run: C[D][D] (i32) = A (i8) * B (i8), one 16xN tile per 32-invocation workgroup;
// ROUNDS submits of DISPATCHES dispatches each, each waited on with a fence and
// checked against a CPU dot product. The last line is "RESULT ok|FAIL ...".
// The KHR structures are declared here: Debian 12's headers (1.3.239) predate them.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vulkan/vulkan.h>

#define CHECK(x)                                                             \
  do {                                                                       \
    VkResult r_ = (x);                                                       \
    if (r_ != VK_SUCCESS) {                                                  \
      printf("ERROR %s = %d (line %d)\nRESULT FAIL vulkan error\n", #x, r_, \
             __LINE__);                                                      \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

#define ST_COOPMAT_FEATURES_KHR ((VkStructureType)1000506000)
#define ST_COOPMAT_PROPERTIES_KHR ((VkStructureType)1000506001)
typedef struct {
  VkStructureType sType;
  void *pNext;
  VkBool32 cooperativeMatrix;
  VkBool32 cooperativeMatrixRobustBufferAccess;
} CoopFeaturesKHR;
typedef struct {
  VkStructureType sType;
  void *pNext;
  uint32_t M, N, K;
  uint32_t A, B, C, Result;
  VkBool32 saturating;
  uint32_t scope;
} CoopPropsKHR;
typedef VkResult(VKAPI_PTR *PFN_props_khr)(VkPhysicalDevice, uint32_t *, CoopPropsKHR *);

static const char *ctype(uint32_t t) {
  static const char *n[] = {"f16", "f32", "f64", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64"};
  if (t < 11) return n[t];
  if (t == 1000141000) return "bf16";
  return "?";
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int has_ext(VkPhysicalDevice pd, const char *name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL);
  VkExtensionProperties *e = calloc(n, sizeof *e);
  vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e);
  int found = 0;
  for (uint32_t i = 0; i < n; i++) found |= strcmp(e[i].extensionName, name) == 0;
  free(e);
  return found;
}

static void list_props(VkInstance inst, VkPhysicalDevice pd) {
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(pd, &p);
  printf("DEVICE %s api %u.%u.%u driver 0x%x vendor 0x%x\n", p.deviceName, VK_VERSION_MAJOR(p.apiVersion),
         VK_VERSION_MINOR(p.apiVersion), VK_VERSION_PATCH(p.apiVersion), p.driverVersion, p.vendorID);
  int khr = has_ext(pd, "VK_KHR_cooperative_matrix"), nv = has_ext(pd, "VK_NV_cooperative_matrix");
  printf("EXT VK_KHR_cooperative_matrix=%d VK_NV_cooperative_matrix=%d VK_NV_cooperative_matrix2=%d\n", khr, nv,
         has_ext(pd, "VK_NV_cooperative_matrix2"));
  if (khr) {
    PFN_props_khr f = (PFN_props_khr)vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
    uint32_t n = 0;
    if (f && f(pd, &n, NULL) == VK_SUCCESS) {
      CoopPropsKHR *c = calloc(n, sizeof *c);
      for (uint32_t i = 0; i < n; i++) c[i].sType = ST_COOPMAT_PROPERTIES_KHR;
      f(pd, &n, c);
      for (uint32_t i = 0; i < n; i++)
        printf("KHR M%u N%u K%u A=%s B=%s C=%s R=%s sat=%u scope=%u\n", c[i].M, c[i].N, c[i].K, ctype(c[i].A),
               ctype(c[i].B), ctype(c[i].C), ctype(c[i].Result), c[i].saturating, c[i].scope);
      free(c);
    }
  }
  if (nv) {
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV f =
        (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)vkGetInstanceProcAddr(
            inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
    uint32_t n = 0;
    if (f && f(pd, &n, NULL) == VK_SUCCESS) {
      VkCooperativeMatrixPropertiesNV *c = calloc(n, sizeof *c);
      for (uint32_t i = 0; i < n; i++) c[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
      f(pd, &n, c);
      for (uint32_t i = 0; i < n; i++)
        printf("NV  M%u N%u K%u A=%s B=%s C=%s D=%s scope=%u\n", c[i].MSize, c[i].NSize, c[i].KSize, ctype(c[i].AType),
               ctype(c[i].BType), ctype(c[i].CType), ctype(c[i].DType), c[i].scope);
      free(c);
    }
  }
}

static uint32_t xs = 12345;
static uint32_t rnd(void) {
  xs ^= xs << 13;
  xs ^= xs >> 17;
  xs ^= xs << 5;
  return xs;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: vkcoop props | vkcoop run SHADER.spv khr|nv N D ROUNDS DISPATCHES\n");
    return 2;
  }
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_3};
  VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
  VkInstance inst;
  CHECK(vkCreateInstance(&ici, NULL, &inst));
  uint32_t npd = 0;
  CHECK(vkEnumeratePhysicalDevices(inst, &npd, NULL));
  if (npd == 0) {
    printf("RESULT FAIL no Vulkan device\n");
    return 1;
  }
  VkPhysicalDevice pds[8];
  if (npd > 8) npd = 8;
  CHECK(vkEnumeratePhysicalDevices(inst, &npd, pds));
  VkPhysicalDevice pd = pds[0];
  list_props(inst, pd);
  if (strcmp(argv[1], "run") != 0 || argc < 8) return 0;

  const char *spv = argv[2];
  int khr = strcmp(argv[3], "khr") == 0, plain = strcmp(argv[3], "plain") == 0;
  uint32_t N = atoi(argv[4]), D = atoi(argv[5]), rounds = atoi(argv[6]), disp = atoi(argv[7]);
  printf("RUN %s %s N=%u D=%u rounds=%u dispatches=%u\n", spv, argv[3], N, D, rounds, disp);
  const char *ext = khr ? "VK_KHR_cooperative_matrix" : "VK_NV_cooperative_matrix";
  if (!plain && !has_ext(pd, ext)) {
    printf("RESULT absent %s\n", ext);
    return 3;
  }

  uint32_t nq = 0, qf = UINT32_MAX;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
  VkQueueFamilyProperties qp[16];
  if (nq > 16) nq = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qp);
  for (uint32_t i = 0; i < nq && qf == UINT32_MAX; i++)
    if (qp[i].queueFlags & VK_QUEUE_COMPUTE_BIT) qf = i;
  float prio = 1;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = qf,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
  CoopFeaturesKHR fk = {.sType = ST_COOPMAT_FEATURES_KHR, .cooperativeMatrix = VK_TRUE};
  VkPhysicalDeviceCooperativeMatrixFeaturesNV fn = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV, .cooperativeMatrix = VK_TRUE};
  VkPhysicalDeviceVulkan13Features f13 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
                                          .pNext = plain ? NULL : khr ? (void *)&fk : (void *)&fn,
                                          .subgroupSizeControl = VK_TRUE,
                                          .computeFullSubgroups = VK_TRUE,
                                          .maintenance4 = VK_TRUE};
  VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                          .pNext = &f13,
                                          .storageBuffer8BitAccess = VK_TRUE,
                                          .shaderInt8 = VK_TRUE,
                                          .vulkanMemoryModel = !plain,
                                          .vulkanMemoryModelDeviceScope = !plain};
  VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .pNext = &f12,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qci,
                            .enabledExtensionCount = plain ? 0 : 1,
                            .ppEnabledExtensionNames = &ext};
  VkDevice dev;
  CHECK(vkCreateDevice(pd, &dci, NULL, &dev));
  VkQueue q;
  vkGetDeviceQueue(dev, qf, 0, &q);

  // Buffers in host-visible coherent memory (speed is not the point here).
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(pd, &mp);
  VkDeviceSize sizes[3] = {(VkDeviceSize)D * D, (VkDeviceSize)D * D, (VkDeviceSize)D * D * 4};
  VkBuffer buf[3];
  VkDeviceMemory mem[3];
  void *ptr[3];
  for (int i = 0; i < 3; i++) {
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = sizes[i],
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT};
    CHECK(vkCreateBuffer(dev, &bci, NULL, &buf[i]));
    VkMemoryRequirements mr;
    vkGetBufferMemoryRequirements(dev, buf[i], &mr);
    uint32_t want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, mt = UINT32_MAX;
    for (uint32_t t = 0; t < mp.memoryTypeCount && mt == UINT32_MAX; t++)
      if ((mr.memoryTypeBits & (1u << t)) && (mp.memoryTypes[t].propertyFlags & want) == want) mt = t;
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = mr.size, .memoryTypeIndex = mt};
    CHECK(vkAllocateMemory(dev, &mai, NULL, &mem[i]));
    CHECK(vkBindBufferMemory(dev, buf[i], mem[i], 0));
    CHECK(vkMapMemory(dev, mem[i], 0, VK_WHOLE_SIZE, 0, &ptr[i]));
  }
  int8_t *A = ptr[0], *B = ptr[1];
  int32_t *C = ptr[2];
  for (size_t i = 0; i < (size_t)D * D; i++) A[i] = (int8_t)(rnd() & 255);
  for (size_t i = 0; i < (size_t)D * D; i++) B[i] = (int8_t)(rnd() & 255);

  // Shader, layout, pipeline (D as specialization constant 0, full subgroups required).
  FILE *fp = fopen(spv, "rb");
  if (!fp) {
    printf("RESULT FAIL cannot open %s\n", spv);
    return 1;
  }
  fseek(fp, 0, SEEK_END);
  long len = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  uint32_t *code = malloc(len);
  if (fread(code, 1, len, fp) != (size_t)len) return 1;
  fclose(fp);
  VkShaderModuleCreateInfo smci = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = (size_t)len, .pCode = code};
  VkShaderModule sm;
  printf("STEP vkCreateShaderModule\n");
  fflush(stdout);
  CHECK(vkCreateShaderModule(dev, &smci, NULL, &sm));
  VkDescriptorSetLayoutBinding b[3];
  for (int i = 0; i < 3; i++)
    b[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                          .descriptorCount = 1,
                                          .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
  VkDescriptorSetLayoutCreateInfo dslci = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = 3, .pBindings = b};
  VkDescriptorSetLayout dsl;
  CHECK(vkCreateDescriptorSetLayout(dev, &dslci, NULL, &dsl));
  VkPipelineLayoutCreateInfo plci = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1, .pSetLayouts = &dsl};
  VkPipelineLayout pl;
  CHECK(vkCreatePipelineLayout(dev, &plci, NULL, &pl));
  VkSpecializationMapEntry sme = {.constantID = 0, .offset = 0, .size = 4};
  VkSpecializationInfo si = {.mapEntryCount = 1, .pMapEntries = &sme, .dataSize = 4, .pData = &D};
  VkComputePipelineCreateInfo cpci = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = sm,
                .pName = "main",
                .pSpecializationInfo = &si},
      .layout = pl};
  VkPipeline pipe;
  printf("STEP vkCreateComputePipelines\n");
  fflush(stdout);
  CHECK(vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &cpci, NULL, &pipe));
  VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = 3};
  VkDescriptorPoolCreateInfo dpci = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 1, .poolSizeCount = 1, .pPoolSizes = &ps};
  VkDescriptorPool dp;
  CHECK(vkCreateDescriptorPool(dev, &dpci, NULL, &dp));
  VkDescriptorSetAllocateInfo dsai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = dp,
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &dsl};
  VkDescriptorSet ds;
  CHECK(vkAllocateDescriptorSets(dev, &dsai, &ds));
  VkDescriptorBufferInfo dbi[3];
  VkWriteDescriptorSet wds[3];
  for (int i = 0; i < 3; i++) {
    dbi[i] = (VkDescriptorBufferInfo){.buffer = buf[i], .offset = 0, .range = VK_WHOLE_SIZE};
    wds[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                    .dstSet = ds,
                                    .dstBinding = i,
                                    .descriptorCount = 1,
                                    .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                    .pBufferInfo = &dbi[i]};
  }
  vkUpdateDescriptorSets(dev, 3, wds, 0, NULL);
  VkCommandPoolCreateInfo cpoci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = qf};
  VkCommandPool cp;
  CHECK(vkCreateCommandPool(dev, &cpoci, NULL, &cp));
  VkCommandBufferAllocateInfo cbai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = cp,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
  VkCommandBuffer cb;
  CHECK(vkAllocateCommandBuffers(dev, &cbai, &cb));
  VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence;
  CHECK(vkCreateFence(dev, &fci, NULL, &fence));

  // Entries checked: all of C up to 256^2, else the first and last tiles and 2048 random ones.
  int bad_rounds = 0;
  for (uint32_t r = 0; r < rounds; r++) {
    memset(C, 0x5a, (size_t)D * D * 4);
    double t0 = now_ms();
    VkCommandBufferBeginInfo cbbi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                     .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    CHECK(vkBeginCommandBuffer(cb, &cbbi));
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pl, 0, 1, &ds, 0, NULL);
    for (uint32_t d = 0; d < disp; d++) vkCmdDispatch(cb, D / N, D / 16, 1);
    CHECK(vkEndCommandBuffer(cb));
    VkSubmitInfo sub = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    printf("STEP round %u submit\n", r);
    fflush(stdout);
    CHECK(vkQueueSubmit(q, 1, &sub, fence));
    CHECK(vkWaitForFences(dev, 1, &fence, VK_TRUE, 20ull * 1000 * 1000 * 1000));
    CHECK(vkResetFences(dev, 1, &fence));
    double ms = now_ms() - t0;
    uint32_t checked = 0, mism = 0;
    char first[128] = "";
    for (uint32_t i = 0;; i++) {
      uint32_t row, col;
      if ((uint64_t)D * D <= 65536) {
        if (i >= D * D) break;
        row = i / D, col = i % D;
      } else {
        if (i >= 512 + 2048) break;
        if (i < 256) row = i / 16, col = i % 16;
        else if (i < 512) row = D - 16 + (i - 256) / 16, col = D - 16 + (i - 256) % 16;
        else row = rnd() % D, col = rnd() % D;
      }
      int64_t want = 0;
      for (uint32_t k = 0; k < D; k++) want += (int64_t)A[(size_t)row * D + k] * B[(size_t)k * D + col];
      int32_t have = C[(size_t)row * D + col];
      checked++;
      if (have != (int32_t)want) {
        if (!mism) snprintf(first, sizeof first, " first C[%u][%u]=%d want %lld", row, col, have, (long long)want);
        mism++;
      }
    }
    if (mism) bad_rounds++;
    printf("ROUND %u %s checked=%u mismatches=%u%s ms=%.2f (%.2f TOP/s wall)\n", r, mism ? "FAIL" : "ok", checked,
           mism, first, ms, 2.0 * D * D * (double)D * disp / (ms * 1e9));
    fflush(stdout);
  }
  printf("STEP teardown\n");
  fflush(stdout);
  vkDeviceWaitIdle(dev);
  vkDestroyFence(dev, fence, NULL);
  vkDestroyCommandPool(dev, cp, NULL);
  vkDestroyDescriptorPool(dev, dp, NULL);
  vkDestroyPipeline(dev, pipe, NULL);
  vkDestroyPipelineLayout(dev, pl, NULL);
  vkDestroyDescriptorSetLayout(dev, dsl, NULL);
  vkDestroyShaderModule(dev, sm, NULL);
  for (int i = 0; i < 3; i++) {
    vkUnmapMemory(dev, mem[i]);
    vkDestroyBuffer(dev, buf[i], NULL);
    vkFreeMemory(dev, mem[i], NULL);
  }
  vkDestroyDevice(dev, NULL);
  vkDestroyInstance(inst, NULL);
  printf("RESULT %s rounds=%u bad_rounds=%d\n", bad_rounds ? "FAIL" : "ok", rounds, bad_rounds);
  return bad_rounds ? 1 : 0;
}
