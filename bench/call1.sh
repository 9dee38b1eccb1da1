set -u
python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' bin/attention.test.xz bin/attention.test; chmod +x bin/attention.test
export LD_LIBRARY_PATH=$PWD/.vk VK_ICD_FILENAMES=/tmp/nv_icd.json XDG_RUNTIME_DIR=/tmp
echo '{"file_format_version":"1.0.0","ICD":{"library_path":"libEGL_nvidia.so.0","api_version":"1.3.0"}}' >/tmp/nv_icd.json
timeout 200 ./bin/attention.test -test.v -test.run 'TestTiledCandidates' > $OUT/tiled_tests.txt 2>&1; echo rc $?
grep -c -- '--- PASS' $OUT/tiled_tests.txt; grep -- '--- FAIL\|union' $OUT/tiled_tests.txt | head; tail -2 $OUT/tiled_tests.txt
