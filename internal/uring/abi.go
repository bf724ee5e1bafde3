package uring

// Opcodes (enum io_uring_op in include/uapi/linux/io_uring.h).
const (
	OpNop            uint8 = 0
	OpReadv          uint8 = 1
	OpWritev         uint8 = 2
	OpFsync          uint8 = 3
	OpReadFixed      uint8 = 4
	OpWriteFixed     uint8 = 5
	OpPollAdd        uint8 = 6
	OpPollRemove     uint8 = 7
	OpSyncFileRange  uint8 = 8
	OpSendmsg        uint8 = 9
	OpRecvmsg        uint8 = 10
	OpTimeout        uint8 = 11
	OpTimeoutRemove  uint8 = 12
	OpAccept         uint8 = 13
	OpAsyncCancel    uint8 = 14
	OpLinkTimeout    uint8 = 15
	OpConnect        uint8 = 16
	OpFallocate      uint8 = 17
	OpOpenat         uint8 = 18
	OpClose          uint8 = 19
	OpFilesUpdate    uint8 = 20
	OpStatx          uint8 = 21
	OpRead           uint8 = 22
	OpWrite          uint8 = 23
	OpFadvise        uint8 = 24
	OpMadvise        uint8 = 25
	OpSend           uint8 = 26
	OpRecv           uint8 = 27
	OpOpenat2        uint8 = 28
	OpEpollCtl       uint8 = 29
	OpSplice         uint8 = 30
	OpProvideBuffers uint8 = 31
	OpRemoveBuffers  uint8 = 32
	OpTee            uint8 = 33
	OpShutdown       uint8 = 34
	OpRenameat       uint8 = 35
	OpUnlinkat       uint8 = 36
	OpMkdirat        uint8 = 37
	OpSymlinkat      uint8 = 38
	OpLinkat         uint8 = 39
	OpMsgRing        uint8 = 40
	OpFsetxattr      uint8 = 41
	OpSetxattr       uint8 = 42
	OpFgetxattr      uint8 = 43
	OpGetxattr       uint8 = 44
	OpSocket         uint8 = 45
	OpUringCmd       uint8 = 46
	OpSendZC         uint8 = 47
	OpSendmsgZC      uint8 = 48
	OpReadMultishot  uint8 = 49
	OpFtruncate      uint8 = 55 // Linux 6.9
)

// Setup flags (io_uring_params.flags).
const (
	SetupIOPoll           uint32 = 1 << 0
	SetupSQPoll           uint32 = 1 << 1
	SetupSQAff            uint32 = 1 << 2
	SetupCQSize           uint32 = 1 << 3
	SetupClamp            uint32 = 1 << 4
	SetupAttachWQ         uint32 = 1 << 5
	SetupRDisabled        uint32 = 1 << 6
	SetupSubmitAll        uint32 = 1 << 7
	SetupCoopTaskrun      uint32 = 1 << 8
	SetupTaskrunFlag      uint32 = 1 << 9
	SetupSQE128           uint32 = 1 << 10
	SetupCQE32            uint32 = 1 << 11
	SetupSingleIssuer     uint32 = 1 << 12
	SetupDeferTaskrun     uint32 = 1 << 13
	SetupNoMmap           uint32 = 1 << 14
	SetupRegisteredFdOnly uint32 = 1 << 15
	SetupNoSQArray        uint32 = 1 << 16
)

// Feature flags reported by the kernel in io_uring_params.features.
const (
	FeatSingleMmap     uint32 = 1 << 0
	FeatNoDrop         uint32 = 1 << 1
	FeatSubmitStable   uint32 = 1 << 2
	FeatRWCurPos       uint32 = 1 << 3
	FeatCurPersonality uint32 = 1 << 4
	FeatFastPoll       uint32 = 1 << 5
	FeatPoll32Bits     uint32 = 1 << 6
	FeatSQPollNonfixed uint32 = 1 << 7
	FeatExtArg         uint32 = 1 << 8
	FeatNativeWorkers  uint32 = 1 << 9
	FeatRsrcTags       uint32 = 1 << 10
	FeatCQESkip        uint32 = 1 << 11
	FeatLinkedFile     uint32 = 1 << 12
	FeatRegRegRing     uint32 = 1 << 13
)

// io_uring_enter flags.
const (
	EnterGetEvents      uint32 = 1 << 0
	EnterSQWakeup       uint32 = 1 << 1
	EnterSQWait         uint32 = 1 << 2
	EnterExtArg         uint32 = 1 << 3
	EnterRegisteredRing uint32 = 1 << 4
)

// SQ ring flags, set by the kernel in the shared sq.flags word.
const (
	SQNeedWakeup uint32 = 1 << 0
	SQCQOverflow uint32 = 1 << 1
	SQTaskrun    uint32 = 1 << 2
)

// SQE flags (io_uring_sqe.flags).
const (
	SQEFixedFile      uint8 = 1 << 0
	SQEIODrain        uint8 = 1 << 1
	SQEIOLink         uint8 = 1 << 2
	SQEIOHardlink     uint8 = 1 << 3
	SQEAsync          uint8 = 1 << 4
	SQEBufferSelect   uint8 = 1 << 5
	SQECQESkipSuccess uint8 = 1 << 6
)

// CQE flags (io_uring_cqe.flags).
const (
	CQEFBuffer       uint32 = 1 << 0
	CQEFMore         uint32 = 1 << 1
	CQEFSockNonempty uint32 = 1 << 2
	CQEFNotif        uint32 = 1 << 3
	// CQEBufferShift is the shift of the provided-buffer id in CQE.Flags
	// when CQEFBuffer is set.
	CQEBufferShift = 16
)

// Per-opcode flags, carried in SQE.OpFlags unless noted.
const (
	FsyncDatasync uint32 = 1 << 0

	TimeoutAbs         uint32 = 1 << 0
	TimeoutUpdate      uint32 = 1 << 1
	TimeoutBoottime    uint32 = 1 << 2
	TimeoutRealtime    uint32 = 1 << 3
	TimeoutETimeSucces uint32 = 1 << 5

	AsyncCancelAll      uint32 = 1 << 0
	AsyncCancelFd       uint32 = 1 << 1
	AsyncCancelAny      uint32 = 1 << 2
	AsyncCancelFdFixed  uint32 = 1 << 3
	AsyncCancelUserData uint32 = 1 << 4
	AsyncCancelOp       uint32 = 1 << 5

	// RecvSendPollFirst and RecvMultishot go in SQE.IOPrio.
	RecvSendPollFirst uint16 = 1 << 0
	RecvMultishot     uint16 = 1 << 1
)

// io_uring_register opcodes.
const (
	RegisterBuffers        uint32 = 0
	UnregisterBuffers      uint32 = 1
	RegisterFiles          uint32 = 2
	UnregisterFiles        uint32 = 3
	RegisterEventfd        uint32 = 4
	UnregisterEventfd      uint32 = 5
	RegisterFilesUpdate    uint32 = 6
	RegisterEventfdAsync   uint32 = 7
	RegisterProbe          uint32 = 8
	RegisterPersonality    uint32 = 9
	UnregisterPersonality  uint32 = 10
	RegisterRestrictions   uint32 = 11
	RegisterEnableRings    uint32 = 12
	RegisterIOWQMaxWorkers uint32 = 19
	RegisterRingFds        uint32 = 20
	UnregisterRingFds      uint32 = 21
	RegisterPbufRing       uint32 = 22
	UnregisterPbufRing     uint32 = 23
	RegisterSyncCancel     uint32 = 24
	RegisterBuffers2       uint32 = 15
	RegisterBuffersUpdate  uint32 = 16
)

// RsrcRegisterSparse (io_uring_rsrc_register.flags) makes a table of empty
// slots, filled later with RegisterBuffersUpdate.
const RsrcRegisterSparse uint32 = 1 << 0

// mmap offsets of the three shared regions.
const (
	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000
)

// SQE is struct io_uring_sqe (64 bytes). The unions of the C struct are
// flattened to their most common member; the Prep methods document which
// field carries what for each opcode.
type SQE struct {
	Opcode      uint8
	Flags       uint8
	IOPrio      uint16
	Fd          int32
	Off         uint64 // off, addr2
	Addr        uint64 // addr, splice_off_in
	Len         uint32
	OpFlags     uint32 // rw_flags, fsync_flags, open_flags, statx_flags, cancel_flags, msg_flags, ...
	UserData    uint64
	BufIndex    uint16 // buf_index, buf_group
	Personality uint16
	SpliceFdIn  int32 // splice_fd_in, file_index, optlen, addr_len
	Addr3       uint64
	_           uint64
}

// CQE is struct io_uring_cqe (16 bytes; rings set up with SetupCQE32 are
// not supported).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// SQRingOffsets is struct io_sqring_offsets.
type SQRingOffsets struct {
	Head        uint32
	Tail        uint32
	RingMask    uint32
	RingEntries uint32
	Flags       uint32
	Dropped     uint32
	Array       uint32
	Resv1       uint32
	UserAddr    uint64
}

// CQRingOffsets is struct io_cqring_offsets.
type CQRingOffsets struct {
	Head        uint32
	Tail        uint32
	RingMask    uint32
	RingEntries uint32
	Overflow    uint32
	CQEs        uint32
	Flags       uint32
	Resv1       uint32
	UserAddr    uint64
}

// Params is struct io_uring_params, passed to and filled in by
// io_uring_setup.
type Params struct {
	SQEntries    uint32
	CQEntries    uint32
	Flags        uint32
	SQThreadCPU  uint32
	SQThreadIdle uint32
	Features     uint32
	WQFd         uint32
	Resv         [3]uint32
	SQOff        SQRingOffsets
	CQOff        CQRingOffsets
}

// Timespec is struct __kernel_timespec (64-bit fields on every
// architecture, unlike unix.Timespec).
type Timespec struct {
	Sec  int64
	Nsec int64
}

// GetEventsArg is struct io_uring_getevents_arg, passed to io_uring_enter
// with EnterExtArg.
type GetEventsArg struct {
	Sigmask   uint64
	SigmaskSz uint32
	MinWaitUs uint32
	Ts        uint64
}

// ProbeOp is struct io_uring_probe_op.
type ProbeOp struct {
	Op    uint8
	Resv  uint8
	Flags uint16
	Resv2 uint32
}

// probeOpSupported is IO_URING_OP_SUPPORTED.
const probeOpSupported = 1 << 0

// maxProbeOps is the number of opcodes a probe asks about.
const maxProbeOps = 256

// probe is struct io_uring_probe followed by its flexible ops array.
type probe struct {
	LastOp uint8
	OpsLen uint8
	Resv   uint16
	Resv2  [3]uint32
	Ops    [maxProbeOps]ProbeOp
}

// BufReg is struct io_uring_buf_reg, the argument of RegisterPbufRing.
type BufReg struct {
	RingAddr    uint64
	RingEntries uint32
	Bgid        uint16
	Flags       uint16
	Resv        [3]uint64
}

// Buf is struct io_uring_buf, one entry of a provided-buffer ring. The
// ring's tail is the Resv field of its first entry (see BufRing).
type Buf struct {
	Addr uint64
	Len  uint32
	Bid  uint16
	Resv uint16
}
