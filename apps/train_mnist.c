/* train_mnist.c - trains a GAN or DCGAN on MNIST digits. */
#include "trainer.h"

int main(int argc, char **argv) { return trainer_main(argc, argv, "mnist"); }
