/* train_images.c - trains a GAN or DCGAN on a folder of images, in colour
 * or grey (the PyTorch DCGAN example's dcgan64 by default). */
#include "trainer.h"

int main(int argc, char **argv) { return trainer_main(argc, argv, "images"); }
