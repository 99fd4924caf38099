/* train_fashion.c - trains a GAN or DCGAN on Fashion-MNIST garments. */
#include "trainer.h"

int main(int argc, char **argv) { return trainer_main(argc, argv, "fashion-mnist"); }
