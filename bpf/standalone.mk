# A BPF object loaded by a small C program of its own rather than by the
# sensor's addon (bpf/egress: containment, pinned so it outlives the sensor;
# bpf/content: egress content capture, driven by the sensor over pipes).
# The including Makefile sets NAME: it builds NAME.bpf.c (with NAME.h) into a
# skeleton that ../../native/NAME/NAME-ctl.c embeds. vmlinux.h is the one the
# parent Makefile makes.
OUT      := .output
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= cc
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
CFLAGS   := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -I../.output -I.
CTL_SRC  := ../../native/$(NAME)/$(NAME)-ctl.c

all: $(OUT)/$(NAME)-ctl

../.output/vmlinux.h:
	$(MAKE) -C .. .output/vmlinux.h

$(OUT)/$(NAME).bpf.o: $(NAME).bpf.c $(NAME).h ../.output/vmlinux.h
	@mkdir -p $(OUT)
	$(CLANG) $(CFLAGS) -c $< -o $@

$(OUT)/$(NAME).skel.h: $(OUT)/$(NAME).bpf.o
	$(BPFTOOL) gen skeleton $< name $(NAME)_bpf > $@.tmp && mv $@.tmp $@

$(OUT)/$(NAME)-ctl: $(CTL_SRC) $(OUT)/$(NAME).skel.h $(NAME).h
	$(CC) -O2 -g -Wall -Wextra -std=gnu11 -I$(OUT) -I. -o $@ $(CTL_SRC) -lbpf -lelf -lz

clean:
	rm -rf $(OUT)

.PHONY: all clean
