package services

// sysRenameat2 is renameat2's system call number (the syscall package has
// none).
const sysRenameat2 = 276
