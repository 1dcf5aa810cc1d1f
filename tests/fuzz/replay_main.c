/*
 * replay_main.c — runs a fuzz target over every file of its seed corpus once.
 *
 * Linked with each fuzz target in the normal (GCC, ASan + UBSan) build, so that the seeds and
 * every crash reproducer saved into the corpus stay regression tests even where clang's
 * libFuzzer is not used. Usage: <target>_replay <corpus-directory-or-file>...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_INPUT_BYTES = 16 * 1024 * 1024 };

static int replay_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        perror(path);
        return -1;
    }
    uint8_t *buffer = malloc(MAX_INPUT_BYTES);
    if (buffer == NULL) {
        fclose(file);
        return -1;
    }
    size_t size = fread(buffer, 1, MAX_INPUT_BYTES, file);
    fclose(file);
    /* Copy to an exact-size allocation so that ASan sees reads past the input's end. */
    uint8_t *input = malloc(size > 0 ? size : 1);
    if (input == NULL) {
        free(buffer);
        return -1;
    }
    memcpy(input, buffer, size);
    free(buffer);
    LLVMFuzzerTestOneInput(input, size);
    free(input);
    return 0;
}

static int replay_path(const char *path, int *count)
{
    struct stat info;
    if (stat(path, &info) != 0) {
        return 0; /* a target without seeds yet replays nothing */
    }
    if (!S_ISDIR(info.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    DIR *directory = opendir(path);
    if (directory == NULL) {
        perror(path);
        return -1;
    }
    int result = 0;
    struct dirent *item;
    while ((item = readdir(directory)) != NULL && result == 0) {
        if (item->d_name[0] == '.') {
            continue;
        }
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, item->d_name);
        result = replay_path(child, count);
    }
    closedir(directory);
    return result;
}

int main(int argc, char **argv)
{
    int count = 0;
    for (int i = 1; i < argc; i++) {
        if (replay_path(argv[i], &count) != 0) {
            return 1;
        }
    }
    printf("replayed %d inputs\n", count);
    return 0;
}
