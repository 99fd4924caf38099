/* make_images.c - a folder of small coloured pictures for the app tests:
 * discs and boxes on a plain ground, PNG and JPEG, of several sizes, some
 * in a subfolder; with --broken also an empty file, a text file named as an
 * image and a PNG cut short; with --grey grey pictures only (all PNG: the
 * JPEGs of stb_image_write are always in colour).
 * usage: make_images DIR COUNT [--broken] [--grey] */
#include <stb_image_write.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unsigned lcg(unsigned *s) { return (*s = *s * 1103515245u + 12345u) >> 8; }

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: make_images DIR COUNT [--broken] [--grey]\n");
        return 2;
    }
    const char *dir = argv[1];
    const int count = atoi(argv[2]);
    int broken = 0, grey = 0;
    for (int i = 3; i < argc; i++)
        broken |= strcmp(argv[i], "--broken") == 0, grey |= strcmp(argv[i], "--grey") == 0;
    char sub[1024], path[1100];
    snprintf(sub, sizeof sub, "%s/more", dir);
    mkdir(dir, 0755);
    mkdir(sub, 0755);
    static const int sides[][2] = {{48, 48}, {80, 60}, {40, 72}, {96, 96}};
    unsigned seed = 7;
    const int channels = grey ? 1 : 3;
    for (int n = 0; n < count; n++) {
        const int w = sides[n % 4][0], h = sides[n % 4][1];
        uint8_t *p = malloc((size_t)w * h * channels), ground[3], ink[3];
        for (int c = 0; c < 3; c++)
            ground[c] = (uint8_t)(lcg(&seed) % 256), ink[c] = (uint8_t)(lcg(&seed) % 256);
        const int cx = w / 4 + (int)(lcg(&seed) % (unsigned)(w / 2)), cy = h / 4 + (int)(lcg(&seed) % (unsigned)(h / 2));
        const int r = 6 + (int)(lcg(&seed) % 12), disc = n % 2;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const int dx = x - cx, dy = y - cy;
                const int inside = disc ? dx * dx + dy * dy <= r * r : abs(dx) <= r && abs(dy) <= r;
                for (int c = 0; c < channels; c++)
                    p[((size_t)y * w + x) * channels + c] = inside ? ink[c] : ground[c];
            }
        const int jpeg = n % 2 && !grey;
        snprintf(path, sizeof path, "%s/%s%03d.%s", n % 3 ? dir : sub, disc ? "disc" : "box", n, jpeg ? "jpg" : "png");
        const int ok = jpeg ? stbi_write_jpg(path, w, h, channels, p, 90) : stbi_write_png(path, w, h, channels, p, w * channels);
        free(p);
        if (!ok) {
            fprintf(stderr, "make_images: cannot write %s\n", path);
            return 1;
        }
    }
    if (broken) {
        FILE *f;
        snprintf(path, sizeof path, "%s/empty.png", dir);
        if ((f = fopen(path, "wb")))
            fclose(f);
        snprintf(path, sizeof path, "%s/notes.jpg", sub);
        if ((f = fopen(path, "wb")))
            fputs("a text file, named as a picture\n", f), fclose(f);
        /* the first PNG cut in half: its header reads, its pixels do not */
        char whole[1100];
        snprintf(whole, sizeof whole, "%s/box000.png", sub);
        snprintf(path, sizeof path, "%s/cut.png", dir);
        FILE *in = fopen(whole, "rb"), *out = fopen(path, "wb");
        char buf[1 << 16];
        const size_t got = in ? fread(buf, 1, sizeof buf, in) : 0;
        if (out)
            fwrite(buf, 1, got / 2, out), fclose(out);
        if (in)
            fclose(in);
    }
    return 0;
}
